// The MPI communicator's collectives, run by ctest as
//   mpirun -np R --oversubscribe test_mpi_communicator --ranks R
// for R = 2 and 3 (tests/CMakeLists.txt). Every rank runs every test; rank 0
// alone prints gtest's progress, the other ranks print only their failures
// (prefixed "rank r:"), so the log reads as one program's. A failure on any
// rank makes that rank exit non-zero, and mpirun then does too.
//
// Started by hand without mpirun, world() is a single process: the tests
// skip, saying how to run them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "taylorscope/communicator.hpp"

namespace ts = taylorscope;

namespace {

int expected_ranks = 0;  // --ranks R: what mpirun was asked for

// Run by hand without mpirun, the tests skip; started by ctest with
// --ranks R, a world of one process is a failure (the launcher's
// environment was not recognised), never a silent pass.
#define TS_SKIP_WITHOUT_RANKS()                                                                          \
  if (ts::world().size() < 2) {                                                                         \
    if (expected_ranks > 1) FAIL() << "--ranks " << expected_ranks << " but world() is one process";    \
    GTEST_SKIP() << "not started by mpirun (world() is one process): run mpirun -np 2 "                 \
                    "test_mpi_communicator --ranks 2";                                                  \
  }

// Rank r's contribution to element i, known to every rank so each can form
// the rank-order sum itself. Element 0 is chosen so that the association
// order shows in the bits: 1 + 2^-53 rounds to 1 (ties to even), so
// ((1 + 2^-53) + 2^-53) + … = 1 exactly, while any other grouping of the
// small terms first, (2^-53 + 2^-53) = 2^-52, then + 1, gives 1 + 2^-52.
// The other elements mix magnitudes and signs so that most sums round.
double contribution(int r, size_t i) {
  if (i == 0) return r == 0 ? 1.0 : std::ldexp(1.0, -53);
  const uint64_t h = (static_cast<uint64_t>(r) + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xBF58476D1CE4E5B9ull);
  const double unit = static_cast<double>(h >> 11) * 0x1.0p-53;  // [0, 1)
  const int exponent = static_cast<int>((h >> 3) % 40) - 20;
  return (h & 1 ? -1.0 : 1.0) * std::ldexp(0.5 + unit, exponent);
}

double rank_order_sum(size_t i, int ranks) {
  double sum = contribution(0, i);
  for (int r = 1; r < ranks; ++r) sum += contribution(r, i);
  return sum;
}

std::string bytes_of(const std::vector<double>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
}

TEST(MpiCommunicator, IsTheWorldMpirunStarted) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  EXPECT_EQ(c.transport(), "mpi");
  if (expected_ranks > 0) EXPECT_EQ(c.size(), expected_ranks);
  EXPECT_GE(c.rank(), 0);
  EXPECT_LT(c.rank(), c.size());
  EXPECT_EQ(c.is_root(), c.rank() == 0);
}

TEST(MpiCommunicator, AllreduceSumsInRankOrderAndEveryRankHoldsTheSameBits) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  const int R = c.size();
  // Odd, so no piece boundary or vector width lines up with it.
  const size_t n = 100003;
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = contribution(c.rank(), i);
  c.allreduce_sum(v.data(), n);

  size_t wrong = 0, first_wrong = n;
  for (size_t i = 0; i < n; ++i) {
    const double expect = rank_order_sum(i, R);
    if (std::memcmp(&v[i], &expect, sizeof(double)) != 0) {
      if (!wrong) first_wrong = i;
      ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0u) << "first at element " << first_wrong << ": " << v[first_wrong] << " vs "
                       << rank_order_sum(first_wrong, R);
  // Element 0 tells the order apart from every other grouping (R ≥ 3; with
  // two ranks a + b = b + a and every order is the same).
  EXPECT_EQ(v[0], 1.0);
  if (R >= 3) {
    double small_first = 0;
    for (int r = R - 1; r >= 1; --r) small_first += contribution(r, 0);
    EXPECT_NE(small_first + 1.0, 1.0) << "the test's element 0 does not tell the orders apart";
  }

  const std::vector<std::string> all = c.allgather(bytes_of(v));
  ASSERT_EQ(all.size(), static_cast<size_t>(R));
  for (int r = 1; r < R; ++r) EXPECT_TRUE(all[r] == all[0]) << "rank " << r << "'s sum differs from rank 0's";
}

TEST(MpiCommunicator, AllreduceOfNothingAndOfOneValue) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  c.allreduce_sum(nullptr, 0);
  double x = c.rank() + 1;
  c.allreduce_sum(&x, 1);
  EXPECT_EQ(x, c.size() * (c.size() + 1) / 2.0);
}

TEST(MpiCommunicator, BroadcastCopiesTheRootsBytesFromAnyRoot) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  for (int root : {0, c.size() - 1}) {
    std::vector<unsigned char> buf(1000 + 17 * root);
    for (size_t i = 0; i < buf.size(); ++i)
      buf[i] = static_cast<unsigned char>(c.rank() == root ? (i * 31 + root) & 0xff : 0xAA);
    c.broadcast(buf.data(), buf.size(), root);
    size_t wrong = 0;
    for (size_t i = 0; i < buf.size(); ++i) wrong += buf[i] != static_cast<unsigned char>((i * 31 + root) & 0xff);
    EXPECT_EQ(wrong, 0u) << "root " << root;
  }
  char byte = 0;
  EXPECT_THROW(c.broadcast(&byte, 1, c.size()), std::invalid_argument);
  EXPECT_THROW(c.broadcast(&byte, 1, -1), std::invalid_argument);
}

TEST(MpiCommunicator, AllgatherReturnsEveryRanksBytesOfItsOwnLengthInRankOrder) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  // Rank 0 sends nothing; rank r sends 7r bytes, zeros included.
  auto payload = [](int r) {
    std::string s;
    for (int i = 0; i < 7 * r; ++i) s += static_cast<char>(i % 3 == 0 ? '\0' : 'a' + (r + i) % 26);
    return s;
  };
  const std::vector<std::string> all = c.allgather(payload(c.rank()));
  ASSERT_EQ(all.size(), static_cast<size_t>(c.size()));
  for (int r = 0; r < c.size(); ++r) EXPECT_TRUE(all[r] == payload(r)) << "rank " << r << "'s bytes";
}

TEST(MpiCommunicator, LocalRanksNumberTheRanksOfThisMachine) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  // mpirun on one machine: every rank is on this node, so the node-local
  // ranks are the ranks themselves (they pick cuda:<local_rank>).
  EXPECT_EQ(c.local_rank(), c.rank());
  const std::vector<std::string> all = c.allgather(std::to_string(c.local_rank()));
  for (int r = 0; r < c.size(); ++r) EXPECT_EQ(all[r], std::to_string(r));
}

TEST(MpiCommunicator, ShardsOfASumReducedInRankOrderEqualTheSerialSumOfTheShards) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  // What `expand` does with rows: each rank sums its shard, the partial sums
  // are added in rank order. The result must be the same bits on every rank
  // and equal to the serial sum of the same partials.
  const int64_t n = 1001;
  auto value = [](int64_t i) { return 1.0 / (1.0 + static_cast<double>(i)); };
  const ts::ShardRange mine = ts::shard_range(n, c.rank(), c.size());
  double part = 0;
  for (int64_t i = mine.begin; i < mine.end; ++i) part += value(i);
  c.allreduce_sum(&part, 1);
  double expect = 0;
  for (int r = 0; r < c.size(); ++r) {
    const ts::ShardRange s = ts::shard_range(n, r, c.size());
    double p = 0;
    for (int64_t i = s.begin; i < s.end; ++i) p += value(i);
    expect += p;
  }
  EXPECT_EQ(part, expect);
}

TEST(MpiCommunicator, CollectiveTimeIsCounted) {
  TS_SKIP_WITHOUT_RANKS();
  ts::Communicator& c = ts::world();
  const double before = c.collective_ms();
  c.barrier();
  double x = 1;
  c.allreduce_sum(&x, 1);
  EXPECT_GT(c.collective_ms(), before);
}

// Rank ≠ 0: failures only, each line prefixed with the rank.
class FailuresOnly : public ::testing::EmptyTestEventListener {
 public:
  explicit FailuresOnly(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::cerr << "rank " << rank_ << ": " << (r.file_name() ? r.file_name() : "?") << ":" << r.line_number()
              << ": " << r.summary() << std::endl;
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ts::start_processes(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--ranks") expected_ranks = std::atoi(argv[i + 1]);
  const int rank = ts::world().rank();
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailuresOnly(rank));
  }
  const int status = RUN_ALL_TESTS();
  // Every rank's verdict, so rank 0's exit status (and its log) speaks for the job.
  int failed = status != 0;
  double f = failed;
  ts::world().allreduce_sum(&f, 1);
  if (rank == 0 && f > 0) std::cout << f << " rank(s) failed" << std::endl;
  ts::finish_processes();
  return f > 0 ? 1 : 0;
}
