// The communicator without MPI: shard_range's arithmetic and the single
// process's communicator (communicator.hpp). The collectives over several
// ranks are test_mpi_communicator.cpp's, run by ctest under mpirun.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "mpi_support.hpp"
#include "taylorscope/communicator.hpp"
#include "taylorscope/errors.hpp"

namespace ts = taylorscope;
using namespace taylorscope::testing;

TEST(ShardRange, ShardsAreContiguousInRankOrderAndCoverEveryItemOnce) {
  for (int64_t n : {0, 1, 2, 3, 5, 7, 10, 11, 64, 1000, 1001}) {
    for (int ranks = 1; ranks <= 9; ++ranks) {
      int64_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        const ts::ShardRange s = ts::shard_range(n, r, ranks);
        ASSERT_EQ(s.begin, next) << "n " << n << " rank " << r << " of " << ranks;
        ASSERT_GE(s.size(), 0);
        next = s.end;
        smallest = std::min(smallest, s.size());
        largest = std::max(largest, s.size());
      }
      EXPECT_EQ(next, n) << "n " << n << " over " << ranks << " ranks";
      // Balanced: no rank takes two items more than another.
      EXPECT_LE(largest - smallest, 1) << "n " << n << " over " << ranks << " ranks";
    }
  }
}

TEST(ShardRange, TheFirstRanksTakeTheRemainder) {
  // 10 over 3: 4, 3, 3 (documented: the first n mod R ranks take one more).
  EXPECT_EQ(ts::shard_range(10, 0, 3).begin, 0);
  EXPECT_EQ(ts::shard_range(10, 0, 3).end, 4);
  EXPECT_EQ(ts::shard_range(10, 1, 3).begin, 4);
  EXPECT_EQ(ts::shard_range(10, 1, 3).end, 7);
  EXPECT_EQ(ts::shard_range(10, 2, 3).begin, 7);
  EXPECT_EQ(ts::shard_range(10, 2, 3).end, 10);
  // Fewer items than ranks: the last ranks get empty shards, not negative ones.
  EXPECT_EQ(ts::shard_range(2, 2, 3).size(), 0);
  EXPECT_EQ(ts::shard_range(2, 2, 3).begin, 2);
  EXPECT_EQ(ts::shard_range(0, 0, 1).size(), 0);
}

TEST(ShardRange, SeedScaleCountsDoNotOverflow) {
  // M·E^4 of the seed's tensors (10 · 1024^4 ≈ 1.1e13) over 64 ranks.
  const int64_t n = int64_t{10} * 1024 * 1024 * 1024 * 1024 + 63;
  EXPECT_EQ(ts::shard_range(n, 63, 64).end, n);
  EXPECT_EQ(ts::shard_range(n, 0, 64).size(), n / 64 + 1);
  const int64_t big = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(ts::shard_range(big, 2, 3).end, big);
}

TEST(ShardRange, RefusesARankOutsideTheJob) {
  EXPECT_THROW(ts::shard_range(10, 3, 3), std::invalid_argument);
  EXPECT_THROW(ts::shard_range(10, -1, 3), std::invalid_argument);
  EXPECT_THROW(ts::shard_range(10, 0, 0), std::invalid_argument);
  EXPECT_THROW(ts::shard_range(-1, 0, 1), std::invalid_argument);
}

TEST(SingleCommunicator, IsOneRankWhoseCollectivesAreTheIdentity) {
  auto comm = ts::make_single_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->local_rank(), 0);
  EXPECT_TRUE(comm->is_root());
  EXPECT_EQ(comm->transport(), "single");

  // The bits stay, NaN payloads and signed zeros included: with one rank the
  // code path must be exactly the single-process one.
  std::vector<double> v = {1.0 / 3, -0.0, std::numeric_limits<double>::quiet_NaN(), 1e308, 5e-324};
  std::vector<double> before = v;
  comm->allreduce_sum(v.data(), v.size());
  EXPECT_EQ(std::memcmp(v.data(), before.data(), v.size() * sizeof(double)), 0);

  char bytes[5] = {'a', 'b', 'c', 'd', 'e'};
  comm->broadcast(bytes, sizeof bytes, 0);
  EXPECT_EQ(std::string(bytes, 5), "abcde");
  EXPECT_THROW(comm->broadcast(bytes, sizeof bytes, 1), std::invalid_argument);

  const std::vector<std::string> all = comm->allgather(std::string("x\0y", 3));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], std::string("x\0y", 3));
  comm->barrier();
  EXPECT_EQ(comm->collective_ms(), 0.0);
}

TEST(SingleCommunicator, WorldIsASingleProcessOutsideMpirun) {
  // ctest runs this program by itself, not under mpirun: world() must be the
  // single process even in an MPI build (no singleton MPI_Init).
  EXPECT_EQ(ts::world().size(), 1);
  EXPECT_EQ(ts::world().rank(), 0);
  EXPECT_EQ(ts::world().transport(), "single");
}

TEST(SingleCommunicator, NcclIsRefusedWithAReasonWhereTheBuildHasNone) {
  std::string why;
  if (ts::nccl_available(&why)) GTEST_SKIP() << "this build has NCCL and a GPU: test_nccl_communicator covers it";
  EXPECT_FALSE(why.empty());
  auto single = ts::make_single_communicator();
  try {
    (void)ts::make_nccl_communicator(*single, 0);
    ADD_FAILURE() << "make_nccl_communicator succeeded without NCCL";
  } catch (const ts::InputError& e) {
    // The refusal carries the reason nccl_available gave (a build with NCCL
    // but no GPU prefixes it with what was unavailable).
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what() << " lacks: " << why;
  }
}

// A failing command under mpirun: one error line (rank 0's; the other ranks
// are ended by its MPI_Abort before their own 2 s wait is over), the input
// error's status 2 passed on by mpirun (measured: OpenMPI 4.1's mpirun exits
// with the status given to MPI_Abort), nothing on stdout. mpirun's own
// banner about MPI_ABORT may follow on stderr; it is not ours to shape.
TEST(MpiCli, AFailingCommandExitsTwoWithOneErrorLine) {
  TS_SKIP_WITHOUT_MPI();
  for (int ranks : {2, 3}) {
    const CliRun r = run_mpi(ranks, "expand --data npy:/nonexistent/Z.npy,/nonexistent/y.npy --quiet");
    EXPECT_EQ(r.status, 2) << ranks << " ranks; stderr: " << r.err;
    size_t errors = 0;
    for (size_t at = r.err.find("taylorscope: error:"); at != std::string::npos;
         at = r.err.find("taylorscope: error:", at + 1))
      ++errors;
    EXPECT_EQ(errors, 1u) << ranks << " ranks; stderr: " << r.err;
    EXPECT_NE(r.err.find("taylorscope: error: /nonexistent/Z.npy"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("rank 1:"), std::string::npos) << "a rank other than 0 spoke: " << r.err;
    EXPECT_EQ(r.out, "") << ranks << " ranks";
  }
}

TEST(MpiCli, AUsageErrorIsSaidOnceAndHelpPrintedOnce) {
  TS_SKIP_WITHOUT_MPI();
  const CliRun bad = run_mpi(3, "expand --order 0 --data fashion-mnist:test");
  EXPECT_EQ(bad.status, 2) << bad.err;
  EXPECT_EQ(bad.err.find("taylorscope: error:"), bad.err.rfind("taylorscope: error:")) << bad.err;
  EXPECT_NE(bad.err.find("--order must be"), std::string::npos) << bad.err;

  const CliRun help = run_mpi(2, "expand --help");
  EXPECT_EQ(help.status, 0) << help.err;
  // Only rank 0's stdout reaches the terminal: the usage line once.
  EXPECT_EQ(help.out.find("Usage:"), help.out.rfind("Usage:")) << help.out;
  EXPECT_NE(help.out.find("Usage:"), std::string::npos) << help.out;
}
