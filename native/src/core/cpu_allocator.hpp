// libtorch's CPU allocations of 1 MiB and more kept for reuse. glibc serves allocations over
// 32 MiB (its largest mmap threshold) with fresh pages and unmaps them when they are freed, so
// every large activation of every denoising step faults its pages in again; on virtual machines
// a page fault costs microseconds, and a 512 x 512 UNet step spent over a second in them. Freed
// blocks go to a cache (up to a limit) and serve the next allocation of about the same size, as
// the steps of a generation allocate the same sizes again; new blocks are 2 MiB aligned and
// advised onto transparent huge pages.
#pragma once

namespace atl {

// Installs the caching allocator as libtorch's CPU allocator (once per process; later calls do
// nothing). Called by the networks' constructors.
void use_caching_cpu_allocator();

// While alive, blocks allocated on this thread are freed when released instead of cached: the
// temporaries of packing weights have sizes that no activation reuses.
class CpuCacheBypass {
public:
    CpuCacheBypass();
    ~CpuCacheBypass();
    CpuCacheBypass(const CpuCacheBypass&) = delete;
    CpuCacheBypass& operator=(const CpuCacheBypass&) = delete;

private:
    bool previous_;
};

// While alive (on any thread), the cache never makes the blocks in use and the cached ones
// together take more than the most that was in use at once since the first scope began: an
// allocation that no cached block serves first frees cached blocks, the largest first. For a
// network whose sizes change from layer to layer within one call (the VAE), where a cache kept
// up to its limit would add blocks of the earlier layers' sizes to the call's working set. The
// UNet's steps allocate the same sizes again and keep the unbounded cache: bounding it there
// makes blocks that the next step needs go and come back.
class CpuCacheBound {
public:
    CpuCacheBound();
    ~CpuCacheBound();
    CpuCacheBound(const CpuCacheBound&) = delete;
    CpuCacheBound& operator=(const CpuCacheBound&) = delete;
};

// Frees every cached block (those in use stay). A network whose activations have other sizes
// than the one before it (the VAE after the UNet) calls it first, so that the peak resident
// memory is one network's working set, not two.
void trim_cpu_cache();

}  // namespace atl
