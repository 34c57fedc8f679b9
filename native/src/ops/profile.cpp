#include "ops/profile.hpp"

namespace atl::ops {

namespace {
thread_local atl_profile* tl_profile = nullptr;
thread_local int32_t tl_network = -1;
thread_local bool tl_in_op = false;

double since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

void profile_on_this_thread(atl_profile* p) { tl_profile = p; }

NetworkScope::NetworkScope(Network n) : previous_(tl_network), on_(tl_profile != nullptr) {
    tl_network = static_cast<int32_t>(n);
    if (on_) start_ = std::chrono::steady_clock::now();
}

NetworkScope::~NetworkScope() {
    if (on_ && tl_profile && previous_ < 0) {
        tl_profile->network_seconds[tl_network] += since(start_);
        tl_profile->network_calls[tl_network] += 1;
    }
    tl_network = previous_;
}

OpScope::OpScope(OpClass c, double flops)
    : class_(c), flops_(flops), on_(tl_profile != nullptr && tl_network >= 0 && !tl_in_op) {
    if (on_) {
        tl_in_op = true;
        start_ = std::chrono::steady_clock::now();
    }
}

OpScope::~OpScope() {
    if (!on_) return;
    tl_in_op = false;
    if (!tl_profile || tl_network < 0) return;
    atl_profile::Cell& cell = tl_profile->cells[tl_network][static_cast<int32_t>(class_)];
    cell.calls += 1;
    cell.seconds += since(start_);
    cell.flops += flops_;
}

}  // namespace atl::ops
