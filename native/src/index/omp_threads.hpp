// Sets the calling thread's OpenMP thread count for one call and restores it afterwards.
// omp_set_num_threads changes only the calling thread's setting, so concurrent callers do not
// disturb each other.
#pragma once

#include <omp.h>

namespace atl::index {

class OmpThreads {
public:
    explicit OmpThreads(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n > 0 ? n : 1); }
    ~OmpThreads() { omp_set_num_threads(saved_); }
    OmpThreads(const OmpThreads&) = delete;
    OmpThreads& operator=(const OmpThreads&) = delete;

private:
    int saved_;
};

}  // namespace atl::index

#include <exception>
#include <mutex>

namespace atl::index {

// An exception must not leave an OpenMP region (the runtime would terminate the process):
// bodies run through run(), which keeps the first exception, and the caller rethrows it after
// the region with rethrow().
class ParallelErrors {
public:
    template <class Body>
    void run(Body&& body) noexcept {
        try {
            body();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!first_) first_ = std::current_exception();
        }
    }
    void rethrow() const {
        if (first_) std::rethrow_exception(first_);
    }

private:
    std::mutex mutex_;
    std::exception_ptr first_;
};

}  // namespace atl::index
