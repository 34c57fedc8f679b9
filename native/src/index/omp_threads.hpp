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
