// A fake environment for ResolveSettings: variables in a map and a scratch home directory whose
// ~/.aws files the tests write.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "support/files.h"
#include "support/status_util.h"
#include "weightfs/storage/s3_config.h"

namespace weightfs::storage::s3::testing {

// Secrets the tests plant; no message may contain them.
inline constexpr char kSecret[] = "SecretKeyPlantedByTests0123456789abcdefXY";
inline constexpr char kToken[] = "SessionTokenPlantedByTests9876543210ZZ";

class FakeEnv {
 public:
  FakeEnv() { std::filesystem::create_directories(dir_.Sub(".aws")); }

  FakeEnv& Set(const std::string& name, const std::string& value) {
    vars_[name] = value;
    return *this;
  }
  FakeEnv& Unset(const std::string& name) {
    vars_.erase(name);
    return *this;
  }
  // Writes HOME/.aws/<name> (or an absolute path).
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = name[0] == '/' ? name : dir_.Sub(".aws/" + name);
    weightfs::testing::WriteLocalFile(path, AsBytes(text));
    return path;
  }
  std::string Path(const std::string& name) const { return dir_.Sub(".aws/" + name); }
  const std::string& home() const { return dir_.path(); }

  Environment Env() const {
    auto vars = vars_;
    return Environment{[vars](const std::string& name) -> std::optional<std::string> {
                         auto it = vars.find(name);
                         if (it == vars.end()) return std::nullopt;
                         return it->second;
                       },
                       dir_.path()};
  }
  Result<Settings> Resolve(const Overrides& overrides = {}) const {
    return ResolveSettings(overrides, Env());
  }

 private:
  weightfs::testing::TempDir dir_;
  std::map<std::string, std::string> vars_;
};

inline FakeEnv& WithEnvKeys(FakeEnv& env) {
  return env.Set("AWS_ACCESS_KEY_ID", "AKIDENV").Set("AWS_SECRET_ACCESS_KEY", kSecret);
}

inline std::string SecretOf(const Settings& s) {
  return std::string(AsString(s.credentials.secret_access_key.view()));
}
inline std::string TokenOf(const Settings& s) {
  return std::string(AsString(s.credentials.session_token.view()));
}

// No planted secret in a message.
inline ::testing::AssertionResult HoldsNoSecret(const Status& s) {
  const std::string& m = s.message();
  if (m.find("PlantedByTests") == std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "a secret in: " << m;
}

}  // namespace weightfs::storage::s3::testing
