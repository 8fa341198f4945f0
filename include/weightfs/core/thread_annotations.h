// Clang's thread-safety annotations (-Wthread-safety), as macros that vanish under other
// compilers. They state which lock guards a member (GUARDED_BY) and which lock a function needs
// (REQUIRES) or must not hold (EXCLUDES), so that clang checks the locking contract at compile
// time; the clang builds of scripts/test.sh turn a violation into an error. Use them with
// weightfs::Mutex (mutex.h): std::mutex carries no annotations in libstdc++.
#pragma once

#if defined(__clang__)
#define WFS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define WFS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) WFS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY WFS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) WFS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) WFS_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) WFS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) WFS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) WFS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) WFS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) WFS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) WFS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) WFS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) WFS_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) WFS_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS WFS_THREAD_ANNOTATION(no_thread_safety_analysis)
