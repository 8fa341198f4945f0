// A directory on a local filesystem as an ObjectStore.
// Layout: objects/<first 2 hex digits>/<64 hex digits>, named files at their name.
#pragma once

#include <memory>
#include <string>

#include "weightfs/storage/object_store.h"

namespace weightfs::storage {

// Opens an existing directory (it must exist). Creates objects/ lazily.
Result<std::unique_ptr<ObjectStore>> OpenLocalStore(const std::string& root);

}  // namespace weightfs::storage
