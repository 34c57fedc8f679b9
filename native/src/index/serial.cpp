#include "index/serial.hpp"

#include <cstring>

#include "core/status.hpp"

namespace atl::index {

size_t MemoryReader::operator()(void* ptr, size_t item_size, size_t nitems) {
    if (item_size == 0 || nitems == 0) return 0;
    size_t available = (size - pos) / item_size;
    size_t n = nitems < available ? nitems : available;
    std::memcpy(ptr, data + pos, n * item_size);
    pos += n * item_size;
    return n;
}

}  // namespace atl::index

extern "C" {

const void* atl_blob_data(const atl_blob* blob) { return blob ? blob->bytes.data() : nullptr; }

int64_t atl_blob_size(const atl_blob* blob) { return blob ? static_cast<int64_t>(blob->bytes.size()) : 0; }

void atl_blob_destroy(atl_blob* blob) { delete blob; }

}  // extern "C"
