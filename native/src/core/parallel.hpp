// Parallel loops over independent tasks that threads take one at a time from a shared counter.
// at::parallel_for gives each thread one fixed, contiguous share: when a thread is slowed (another
// process on a shared machine, a task heavier than the rest), the others finish their share and
// wait for it at the end. Here no thread waits while tasks are left.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace atl {

// Calls fn(task, scratch) for task in [0, tasks), each exactly once, on ATen's thread pool; each
// thread makes its scratch once with make_scratch() before its first task. fn must be safe to run
// concurrently for different tasks.
template <typename Make, typename Fn>
void for_each_task(int64_t tasks, Make&& make_scratch, Fn&& fn) {
    if (tasks <= 0) return;
    std::atomic<int64_t> next{0};
    const int64_t threads = std::min<int64_t>(tasks, at::get_num_threads());
    at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
        int64_t t = next.fetch_add(1, std::memory_order_relaxed);
        if (t >= tasks) return;
        auto scratch = make_scratch();
        for (; t < tasks; t = next.fetch_add(1, std::memory_order_relaxed)) fn(t, scratch);
    });
}

// The same without scratch: fn(task).
template <typename Fn>
void for_each_task(int64_t tasks, Fn&& fn) {
    for_each_task(tasks, [] { return 0; }, [&](int64_t t, int) { fn(t); });
}

}  // namespace atl
