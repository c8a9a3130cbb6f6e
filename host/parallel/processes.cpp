// world() and the single-process communicator; the MPI one is in
// mpi_communicator.cpp, built when CMake found MPI (TS_HAVE_MPI).
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "taylorscope/communicator.hpp"

namespace taylorscope {

#if TS_HAVE_MPI
// mpi_communicator.cpp
bool launched_by_mpi();
std::unique_ptr<Communicator> start_mpi(int* argc, char*** argv);
void finish_mpi();
[[noreturn]] void abort_mpi(int status);
#endif

namespace {

class SingleCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string transport() const override { return "single"; }
  void allreduce_sum(double*, size_t) override {}
  void broadcast(void*, size_t, int root) override {
    if (root != 0) throw std::invalid_argument("broadcast: root " + std::to_string(root) + " of 1 rank");
  }
  std::vector<std::string> allgather(const std::string& bytes) override { return {bytes}; }
  void barrier() override {}
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> slot;
  return slot;
}
bool mpi_started = false;

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

Communicator& world() {
  auto& slot = world_slot();
  if (!slot) slot = make_single_communicator();  // a library user who never called start_processes
  return *slot;
}

void start_processes(int* argc, char*** argv) {
#if TS_HAVE_MPI
  if (launched_by_mpi()) {
    world_slot() = start_mpi(argc, argv);
    mpi_started = true;
    return;
  }
#else
  (void)argc, (void)argv;
#endif
  world_slot() = make_single_communicator();
}

void finish_processes() {
#if TS_HAVE_MPI
  if (mpi_started) {
    world_slot().reset();
    finish_mpi();
    mpi_started = false;
  }
#endif
}

void abort_processes(int status) {
#if TS_HAVE_MPI
  if (mpi_started) abort_mpi(status);
#endif
  std::exit(status);
}

bool mpi_available(std::string* why) {
#if TS_HAVE_MPI
  (void)why;
  return true;
#else
  if (why) *why = "this build has no MPI (configure found none; install libopenmpi-dev and rebuild)";
  return false;
#endif
}

ShardRange shard_range(int64_t n, int rank, int ranks) {
  if (ranks < 1 || rank < 0 || rank >= ranks || n < 0)
    throw std::invalid_argument("shard_range: rank " + std::to_string(rank) + " of " + std::to_string(ranks));
  const int64_t base = n / ranks, extra = n % ranks;
  ShardRange r;
  r.begin = rank * base + std::min<int64_t>(rank, extra);
  r.end = r.begin + base + (rank < extra ? 1 : 0);
  return r;
}

}  // namespace taylorscope
