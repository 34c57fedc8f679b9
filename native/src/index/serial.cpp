#include "index/serial.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include "core/status.hpp"

namespace atl::index {

size_t MemoryReader::operator()(void* ptr, size_t item_size, size_t nitems) {
    if (item_size == 0 || nitems == 0) return 0;
    size_t available = (size - pos) / item_size;
    size_t n = nitems < available ? nitems : available;
    std::memcpy(ptr, data + pos, n * item_size);
    pos += n * item_size;
    // A one-element vector of 8-byte values (one id) is read as its length, then one item: that
    // item is data, not a length.
    const bool elements_of_last = nitems == last_length_;
    last_length_ = UINT64_MAX;
    if (item_size == sizeof(uint64_t) && n == 1) {
        std::memcpy(&last_length_, ptr, sizeof last_length_);
        if (!elements_of_last) check_length(last_length_);
    }
    return n;
}

void MemoryReader::check_length(uint64_t value) const {
    // FAISS reads a vector's length as one 8-byte item and resizes the vector (zero-filling
    // every element) before reading its elements: a length of 2^39 in a 1 KB buffer would
    // commit gigabytes before the short read is noticed. Every length FAISS then allocates is
    // below 2^40 (its own check); a valid buffer holds the elements of any such length after
    // it, so a value in [remaining + slack, 2^40) cannot be one. The slack keeps the fixed
    // header field (2^20) and counts of empty inverted lists valid in small buffers. 8-byte
    // fields that are not lengths are doubles (of which only subnormals fall in that range) or
    // counts bounded the same way.
    constexpr uint64_t kFaissMaxLength = uint64_t{1} << 40;
    constexpr uint64_t kSlack = uint64_t{1} << 20;
    const uint64_t remaining = size - pos;
    if (value >= remaining + kSlack && value < kFaissMaxLength) {
        fail(ATL_ERR_FORMAT, "a length field of " + std::to_string(value) + " at byte " +
                                 std::to_string(pos - sizeof value) + " exceeds the " + std::to_string(remaining) +
                                 " bytes after it");
    }
}

}  // namespace atl::index

extern "C" {

const void* atl_blob_data(const atl_blob* blob) { return blob ? blob->bytes.data() : nullptr; }

int64_t atl_blob_size(const atl_blob* blob) { return blob ? static_cast<int64_t>(blob->bytes.size()) : 0; }

void atl_blob_destroy(atl_blob* blob) { delete blob; }

}  // extern "C"
