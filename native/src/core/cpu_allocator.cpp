#include "core/cpu_allocator.hpp"

#include <c10/core/CPUAllocator.h>
#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/torch_compat.hpp"

namespace atl {

namespace {

thread_local bool tl_bypass = false;
std::atomic<int> g_bounds{0};  // CpuCacheBound scopes alive

constexpr size_t kSmallest = size_t{1} << 20;  // smaller allocations go to libtorch's allocator
constexpr size_t kGranule = size_t{2} << 20;   // sizes round up to whole huge pages
constexpr size_t kCacheLimit = size_t{2} << 30; // free bytes kept at most

// The context of a DataPtr is its data pointer (libtorch's raw_allocate requires that); the sizes
// of the blocks handed out are kept beside them.
class CachingAllocator final : public c10::Allocator {
public:
    explicit CachingAllocator(c10::Allocator* fallback) : fallback_(fallback) {}

    c10::DataPtr allocate(size_t n) ATL_ALLOCATOR_ALLOCATE_CONST override {
        if (n < kSmallest) return fallback_->allocate(n);
        const size_t size = (n + kGranule - 1) / kGranule * kGranule;
        void* p = take(size);
        if (!p) {
            if (g_bounds.load(std::memory_order_relaxed) > 0) make_room(size);
            p = std::aligned_alloc(kGranule, size);
            if (!p) throw std::bad_alloc();
            madvise(p, size, MADV_HUGEPAGE);
            std::lock_guard<std::mutex> lock(state().mutex);
            state().live.emplace(p, Live{size, !tl_bypass});
            state().hand_out(size);
        } else {
            std::lock_guard<std::mutex> lock(state().mutex);
            Live& block = state().live[p];
            if (tl_bypass) block.cache = false;
            state().hand_out(block.size);
        }
        return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
    }

    c10::DeleterFnPtr raw_deleter() const override { return &release; }

    // Pure virtual in libtorch 2.x (core/torch_compat.hpp); unused by 1.13.
    void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

    struct Live {
        size_t size;
        bool cache;  // false: freed when released (allocated under a CpuCacheBypass)
    };
    struct State {
        std::mutex mutex;
        std::unordered_map<void*, Live> live;  // blocks handed out (and cached), by address
        std::multimap<size_t, void*> free;       // cached blocks by size
        size_t cached = 0;
        size_t in_use = 0;       // bytes of the blocks handed out
        size_t peak_in_use = 0;  // the most in_use since the last trim or the first CpuCacheBound
        c10::DeleterFnPtr fallback_deleter = nullptr;

        void hand_out(size_t size) {
            in_use += size;
            peak_in_use = std::max(peak_in_use, in_use);
        }
    };
    // Never destroyed: tensors may be freed during static destruction.
    static State& state() {
        static auto* s = new State();
        return *s;
    }

    static void reset_peak() {
        State& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        s.peak_in_use = s.in_use;
    }

    static void trim() {
        State& s = state();
        std::multimap<size_t, void*> freed;
        {
            std::lock_guard<std::mutex> lock(s.mutex);
            freed.swap(s.free);
            for (const auto& [size, p] : freed) s.live.erase(p);
            s.cached = 0;
            s.peak_in_use = s.in_use;
        }
        for (const auto& [size, p] : freed) std::free(p);
        // Blocks under glibc's mmap threshold (up to 32 MiB) go back to its heap, which keeps
        // their pages: hand the free pages to the kernel.
        malloc_trim(0);
    }

private:
    // Under a CpuCacheBound, before a new block of size bytes is allocated: frees cached blocks,
    // the largest first, until the blocks in use, the cache and the new block together take no
    // more than the most that was in use at once since the scope began (counting the new block).
    static void make_room(size_t size) {
        State& s = state();
        std::vector<void*> freed;
        {
            std::lock_guard<std::mutex> lock(s.mutex);
            const size_t bound = std::max(s.peak_in_use, s.in_use + size);
            while (!s.free.empty() && s.in_use + s.cached + size > bound) {
                auto largest = std::prev(s.free.end());
                s.cached -= largest->first;
                s.live.erase(largest->second);
                freed.push_back(largest->second);
                s.free.erase(largest);
            }
        }
        for (void* p : freed) std::free(p);
    }

    // A free block of at least size bytes and at most a quarter more, or null.
    static void* take(size_t size) {
        State& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        auto it = s.free.lower_bound(size);
        if (it == s.free.end() || it->first > size + size / 4) return nullptr;
        void* p = it->second;
        s.cached -= it->first;
        s.free.erase(it);
        return p;
    }

    static void release(void* p) {
        State& s = state();
        c10::DeleterFnPtr other = nullptr;
        {
            std::lock_guard<std::mutex> lock(s.mutex);
            auto it = s.live.find(p);
            if (it != s.live.end()) s.in_use -= it->second.size;
            if (it == s.live.end()) {
                other = s.fallback_deleter;  // a small block (raw_deallocate)
            } else if (it->second.cache && s.cached + it->second.size <= kCacheLimit) {
                s.free.emplace(it->second.size, p);
                s.cached += it->second.size;
                return;
            } else {
                s.live.erase(it);
            }
        }
        if (other) {
            other(p);
        } else {
            std::free(p);
        }
    }

    c10::Allocator* fallback_;
};

}  // namespace

void use_caching_cpu_allocator() {
    static std::once_flag once;
    std::call_once(once, [] {
        c10::Allocator* fallback = c10::GetCPUAllocator();
        static auto* allocator = new CachingAllocator(fallback);
        CachingAllocator::state().fallback_deleter = fallback->raw_deleter();
        c10::SetCPUAllocator(allocator, /*priority=*/1);
        // glibc serves allocations from its mmap threshold up with fresh pages; the threshold
        // starts at 128 KiB and only rises to the size of a mapped block once one is freed. Until
        // then the allocations left to glibc (libtorch's under kSmallest: the low-resolution
        // layers' activations, the attention's packed K and V; the GEMM's packing buffers) fault
        // their pages in on every call (a 64-token attention 6 ms instead of 0.45-0.6 ms). The
        // threshold is set to its dynamic maximum (32 MiB) from the start, and freed heap memory
        // is kept up to 64 MiB rather than returned to the kernel and faulted in again.
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 64 << 20);
    });
}

void trim_cpu_cache() { CachingAllocator::trim(); }

CpuCacheBound::CpuCacheBound() {
    if (g_bounds.fetch_add(1) == 0) CachingAllocator::reset_peak();
}
CpuCacheBound::~CpuCacheBound() { g_bounds.fetch_sub(1); }

CpuCacheBypass::CpuCacheBypass() : previous_(tl_bypass) { tl_bypass = true; }
CpuCacheBypass::~CpuCacheBypass() { tl_bypass = previous_; }

}  // namespace atl
