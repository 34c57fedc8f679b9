// Byte buffers between FAISS's IOWriter/IOReader and the caller: write into a library-owned
// atl_blob, read straight from the caller's memory (no copy into a std::vector).
#pragma once

#include <faiss/impl/io.h>

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "atelier.h"
#include "core/status.hpp"

struct atl_blob {
    std::vector<uint8_t> bytes;
};

namespace atl::index {

// Reads from [data, data + size); FAISS's READ macros throw on a short read, which is how a
// truncated buffer is detected. Length fields larger than the bytes left are refused before
// FAISS allocates them.
struct MemoryReader : faiss::IOReader {
    const uint8_t* data;
    size_t size;
    size_t pos = 0;

    MemoryReader(const void* d, size_t n) : data(static_cast<const uint8_t*>(d)), size(n) { name = "memory"; }
    // Also refuses (ATL_ERR_FORMAT) a one-item 8-byte read that, as a length, exceeds the bytes left.
    size_t operator()(void* ptr, size_t item_size, size_t nitems) override;

private:
    void check_length(uint64_t value) const;
    uint64_t last_length_ = UINT64_MAX;  // the last one-item 8-byte read
};

// Runs read(reader) on the caller's bytes; every FAISS failure, and bytes left over, become
// ATL_ERR_FORMAT naming `what`. Returns what read returned, owned by the caller.
template <typename T, typename Read>
std::unique_ptr<T> read_buffer(const void* data, int64_t size, const char* what, Read read) {
    require(size >= 0 && (data != nullptr || size == 0), ATL_ERR_INVALID_ARGUMENT,
            std::string(what) + ": no buffer");
    MemoryReader reader(data, static_cast<size_t>(size));
    std::unique_ptr<T> result;
    try {
        result.reset(read(&reader));
    } catch (const std::bad_alloc&) {
        // An altered length field can ask for an absurd allocation.
        fail(ATL_ERR_FORMAT, std::string(what) + " is malformed (a length field asks for too much memory)");
    } catch (const std::exception& e) {
        fail(ATL_ERR_FORMAT, std::string(what) + " is truncated or malformed: " + e.what());
    }
    require(result != nullptr, ATL_ERR_FORMAT, std::string(what) + " is malformed");
    require(reader.pos == reader.size, ATL_ERR_FORMAT,
            std::string(what) + " has " + std::to_string(reader.size - reader.pos) + " bytes after its end");
    return result;
}

// Serialises through write(writer) into a new blob owned by the caller.
template <typename Write>
atl_blob* write_blob(Write write) {
    faiss::VectorIOWriter writer;
    write(&writer);
    auto blob = new atl_blob;
    blob->bytes = std::move(writer.data);
    return blob;
}

}  // namespace atl::index
