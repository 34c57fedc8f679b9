// The k best (score, id) pairs seen so far, higher score better, the smaller id winning a tie
// (so results do not depend on the order in which tiles or threads saw the candidates).
// A binary heap with the worst kept pair at the root; threshold() lets a scan skip, with one
// comparison, every candidate that cannot enter.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace atl::index {

class TopK {
public:
    explicit TopK(int64_t k) : k_(k) { heap_.reserve(static_cast<size_t>(k)); }

    // Candidates scoring below this cannot enter (those equal to it may, on a smaller id).
    float threshold() const {
        return static_cast<int64_t>(heap_.size()) < k_ ? -std::numeric_limits<float>::infinity() : heap_[0].first;
    }

    void push(float score, int64_t id) {
        if (static_cast<int64_t>(heap_.size()) < k_) {
            heap_.emplace_back(score, id);
            std::push_heap(heap_.begin(), heap_.end(), worse_first);
        } else if (better({score, id}, heap_[0])) {
            std::pop_heap(heap_.begin(), heap_.end(), worse_first);
            heap_.back() = {score, id};
            std::push_heap(heap_.begin(), heap_.end(), worse_first);
        }
    }

    void merge(const TopK& other) {
        for (const auto& [s, id] : other.heap_) push(s, id);
    }

    // Writes the pairs best first; slots beyond those found get empty_score and id -1.
    // sign = -1 turns the internal "higher is better" scores back into L2 distances.
    void write(float sign, float empty_score, float* scores, int64_t* ids) const {
        std::vector<std::pair<float, int64_t>> sorted(heap_);
        std::sort(sorted.begin(), sorted.end(), better);
        for (int64_t i = 0; i < k_; ++i) {
            bool have = i < static_cast<int64_t>(sorted.size());
            scores[i] = have ? sign * sorted[i].first : empty_score;
            ids[i] = have ? sorted[i].second : -1;
        }
    }

    int64_t size() const { return static_cast<int64_t>(heap_.size()); }

private:
    static bool better(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    }
    // std heap keeps the "largest" at the root: order so that the worst pair is largest.
    static bool worse_first(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
        return better(a, b);
    }

    int64_t k_;
    std::vector<std::pair<float, int64_t>> heap_;
};

}  // namespace atl::index
