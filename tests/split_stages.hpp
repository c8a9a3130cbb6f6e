// The hidden-unit split of the expansion pass with R ranks simulated in one
// process, through the backends' stage API (expansion_pass.hpp), as
// sharded_pass runs it under mpirun: rank r's backend takes hidden units
// shard_range(H, r, R) for stage 1; per block of rows the G shares are added
// in rank order; each rank runs stage 2 on its share of the block's rows;
// then the row sums are added in rank order and the class power sums are
// concatenated along β.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "taylorscope/communicator.hpp"
#include "taylorscope/dataset.hpp"
#include "taylorscope/expansion_pass.hpp"

namespace taylorscope::testing {

// `ranks` holds one backend per simulated rank; `block_ends` cut the rows
// into blocks (the last must be data.N).
inline PassSums split_pass_in_one_process(const std::vector<ExpansionBackend*>& ranks, const Dataset& data,
                                          const Params& theta, const PassPlan& plan,
                                          const std::vector<int64_t>& block_ends) {
  const int R = static_cast<int>(ranks.size());
  const int64_t H = theta.H, C = plan.channels(), M = data.M;
  for (int r = 0; r < R; ++r) {
    ranks[r]->upload(data);
    ranks[r]->begin_stages(theta, plan, shard_range(H, r, R));
  }
  int64_t begin = 0;
  for (const int64_t end : block_ends) {
    const ShardRange block{begin, end};
    std::vector<double> G(static_cast<size_t>(block.size() * C * M), 0.0), share(G.size());
    for (int r = 0; r < R; ++r) {
      ranks[r]->hidden_stage(block, share.data());
      for (size_t i = 0; i < G.size(); ++i) G[i] += share[i];
    }
    for (int r = 0; r < R; ++r) {
      const ShardRange mine = shard_range(block.size(), r, R);
      ranks[r]->sample_stage({block.begin + mine.begin, block.begin + mine.end}, G.data() + mine.begin * C * M);
    }
    begin = end;
  }
  PassSums split = PassSums::zeros(plan, data.M, H, data.E);
  for (int r = 0; r < R; ++r) {
    PassSums part = ranks[r]->end_stages();
    const ShardRange h = shard_range(H, r, R);
    if (part.H != h.size()) throw std::logic_error("end_stages: class power sums of another width");
    for (int64_t nm = 0; nm < plan.max_power * M; ++nm)
      std::copy_n(&part.class_power[nm * h.size()], h.size(), &split.class_power[nm * H + h.begin]);
    part.class_power.assign(split.class_power.size(), 0.0);
    part.H = H;
    split.add(part);
  }
  return split;
}

}  // namespace taylorscope::testing
