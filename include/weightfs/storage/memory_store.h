// An in-memory ObjectStore for tests.
#pragma once

#include <memory>

#include "weightfs/storage/object_store.h"

namespace weightfs::storage {

std::unique_ptr<ObjectStore> NewMemoryStore();

}  // namespace weightfs::storage
