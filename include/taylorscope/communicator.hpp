// The processes of one run and what they exchange (docs/scaling.md).
//
// `mpirun -np R taylorscope …` starts R copies of the engine; each is a rank
// 0..R−1 of one Communicator. Rank 0 alone writes files and prints; every
// rank reads the inputs itself and computes its share. Without MPI (a build
// without it, or a process not started by mpirun) world() is a single
// process of size 1 and every collective is the identity, so the library is
// the single-process engine it has always been.
//
// Determinism: allreduce_sum adds the ranks' buffers in rank order,
// ((b_0 + b_1) + b_2) + …, never in the transport's own reduction order, so
// for a fixed R every rank holds the same bits and a rerun gives them again.
// Across R the partial sums are grouped differently: results agree to
// rounding, not bitwise (INTERFACES.md "Several processes").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace taylorscope {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's index among the ranks on its machine: it picks the GPU
  // (`--device cuda` is cuda:<local_rank>).
  virtual int local_rank() const = 0;
  virtual std::string transport() const = 0;  // "single" or "mpi"

  // Element-wise sum of every rank's `data[0..count)`, added in rank order;
  // every rank receives the same result. Host memory.
  virtual void allreduce_sum(double* data, size_t count) = 0;
  // Root's `bytes` bytes at `data` copied to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // Every rank's `bytes` (any length, may differ by rank) at every rank, in
  // rank order.
  virtual std::vector<std::string> allgather(const std::string& bytes) = 0;
  virtual void barrier() = 0;

  // Wall time spent inside this communicator's collectives so far (ms), for
  // the reports' timing_ms.allreduce.
  double collective_ms() const { return collective_ms_; }

  bool is_root() const { return rank() == 0; }

 protected:
  double collective_ms_ = 0;
};

// The process's communicator: the MPI world when this build has MPI and the
// process was started by mpirun (or srun, or any PMI launcher), otherwise a
// single process. Valid between start_processes() and the end of main().
Communicator& world();

// Starts MPI when launched under it (argc/argv as main's); a no-op
// otherwise. Call once, first thing in main.
void start_processes(int* argc, char*** argv);
// MPI_Finalize when MPI was started. Call before returning from main.
void finish_processes();
// Ends every rank of the job now with `status`: a rank that fails must not
// leave the others waiting in a collective. A single process just exits.
[[noreturn]] void abort_processes(int status);

// A communicator of one rank (tests; the library default).
std::unique_ptr<Communicator> make_single_communicator();

// True when this build can run under MPI; otherwise false and *why says so.
bool mpi_available(std::string* why);

// The half-open share [begin, end) of n items that rank r of R takes: the
// first n mod R ranks take one more. Contiguous, in rank order, so the
// shards concatenated are 0..n−1.
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
ShardRange shard_range(int64_t n, int rank, int ranks);

// ---- device buffers (NCCL) ----

// The same collective over device memory, on a CUDA stream: an all-gather
// of the ranks' buffers followed by a rank-order sum on the device, so its
// result is the same bits as Communicator::allreduce_sum's would be and is
// independent of NCCL's ring or tree algorithm. It can be captured in a
// CUDA graph (it only enqueues work on the stream).
class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // `data` is device memory of `count` doubles; `stream` a cudaStream_t.
  virtual void allreduce_sum(double* data, size_t count, void* stream) = 0;
  // Allocates the scratch of a `count`-double all-reduce now: call it before
  // capturing a graph that all-reduces, since a capture cannot allocate.
  virtual void reserve(size_t count) = 0;
};

// True when this build has NCCL (and CUDA); otherwise false and *why says so.
bool nccl_available(std::string* why);
// One NCCL rank per host rank on `device`, bootstrapped over `host` (rank 0
// creates the unique id and broadcasts it). Throws InputError without NCCL.
std::unique_ptr<DeviceCommunicator> make_nccl_communicator(Communicator& host, int device);

}  // namespace taylorscope
