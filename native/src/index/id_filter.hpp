// atl_id_filter: an allowed-id set built once, read by many concurrent searches.
#pragma once

#include <faiss/impl/IDSelector.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "atelier.h"

struct atl_id_filter {
    std::vector<uint8_t> bitmap;                    // backs the IDSelectorBitmap when used
    std::unique_ptr<faiss::IDSelector> selector;    // read-only after creation
    int64_t count = 0;                              // distinct allowed ids
};
