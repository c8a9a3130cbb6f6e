// The Communicator over MPI (OpenMPI from Debian; any MPI-3 library).
// Host buffers only; device buffers go through nccl_communicator.cu.
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "taylorscope/communicator.hpp"

namespace taylorscope {
namespace {

// One MPI call moves at most this many elements: MPI counts are int, and a
// rank-order sum gathers R copies of a piece at the root.
constexpr size_t kPieceDoubles = size_t{1} << 24;  // 128 MiB a rank

class Stopwatch {
 public:
  explicit Stopwatch(double& total_ms) : total_ms_(total_ms), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() {
    total_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  double& total_ms_;
  std::chrono::steady_clock::time_point start_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_free(&node);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string transport() const override { return "mpi"; }

  // Gathered at rank 0, summed there in rank order, broadcast back: MPI's
  // own MPI_Allreduce may associate the ranks in any order (and differently
  // by message size), which would make results depend on the library.
  void allreduce_sum(double* data, size_t count) override {
    const Stopwatch watch(collective_ms_);
    std::vector<double> gathered;
    for (size_t at = 0; at < count; at += kPieceDoubles) {
      const int n = static_cast<int>(std::min(kPieceDoubles, count - at));
      if (rank_ == 0) gathered.resize(static_cast<size_t>(n) * size_);
      MPI_Gather(data + at, n, MPI_DOUBLE, gathered.data(), n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
      if (rank_ == 0)
        for (int i = 0; i < n; ++i) {
          double sum = gathered[i];
          for (int r = 1; r < size_; ++r) sum += gathered[static_cast<size_t>(r) * n + i];
          data[at + i] = sum;
        }
      MPI_Bcast(data + at, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    }
  }

  void broadcast(void* data, size_t bytes, int root) override {
    // As the single communicator: a root outside the job is the caller's
    // mistake, said as one, not MPI's error handler aborting every rank.
    if (root < 0 || root >= size_)
      throw std::invalid_argument("broadcast: root " + std::to_string(root) + " of " + std::to_string(size_) +
                                  " ranks");
    const Stopwatch watch(collective_ms_);
    auto* p = static_cast<char*>(data);
    for (size_t at = 0; at < bytes; at += INT_MAX)
      MPI_Bcast(p + at, static_cast<int>(std::min<size_t>(INT_MAX, bytes - at)), MPI_BYTE, root, MPI_COMM_WORLD);
  }

  std::vector<std::string> allgather(const std::string& bytes) override {
    const Stopwatch watch(collective_ms_);
    const long long mine = static_cast<long long>(bytes.size());
    std::vector<long long> sizes(size_);
    MPI_Allgather(&mine, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD);
    std::vector<int> counts(size_), offsets(size_);
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      if (total + sizes[r] > INT_MAX) throw std::runtime_error("allgather: more than 2 GiB in one exchange");
      counts[r] = static_cast<int>(sizes[r]);
      offsets[r] = static_cast<int>(total);
      total += sizes[r];
    }
    std::string all(static_cast<size_t>(total), '\0');
    MPI_Allgatherv(bytes.data(), static_cast<int>(mine), MPI_BYTE, all.data(), counts.data(), offsets.data(),
                   MPI_BYTE, MPI_COMM_WORLD);
    std::vector<std::string> out(size_);
    for (int r = 0; r < size_; ++r) out[r] = all.substr(offsets[r], counts[r]);
    return out;
  }

  void barrier() override {
    const Stopwatch watch(collective_ms_);
    MPI_Barrier(MPI_COMM_WORLD);
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

// The launchers' environment: OpenMPI's mpirun, PMIx (OpenMPI ≥ 4, srun),
// PMI-1/2 (MPICH's hydra, srun). A process started by hand is a single
// process even in an MPI build: no singleton MPI_Init, which would be slow
// and print launcher warnings on some systems.
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

std::unique_ptr<Communicator> start_mpi(int* argc, char*** argv) {
  int provided = 0;
  // One thread calls MPI (the main one); OpenMP and CUDA threads never do.
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  return std::make_unique<MpiCommunicator>();
}

void finish_mpi() { MPI_Finalize(); }

void abort_mpi(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
  std::exit(status);  // MPI_Abort does not return; this satisfies [[noreturn]]
}

}  // namespace taylorscope
