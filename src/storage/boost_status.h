// Turns a Boost.Filesystem error into a Status, so Boost's error codes and exceptions stop at
// the call site like errno does.
#pragma once

#include <boost/system/error_code.hpp>
#include <string>

#include "weightfs/core/status.h"

namespace weightfs::storage {

inline Status BoostErrorStatus(const boost::system::error_code& ec, const std::string& context) {
  if (ec.category() == boost::system::system_category() ||
      ec.category() == boost::system::generic_category()) {
    return ErrnoStatus(ec.value(), context);
  }
  return IoError(context + ": " + ec.message());
}

}  // namespace weightfs::storage
