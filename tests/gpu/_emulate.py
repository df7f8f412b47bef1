"""CPU emulation of the CUDA scan kernels, for checking them without a GPU.

``scan.cu`` is compiled unchanged by the host C++20 compiler with a prelude that supplies the CUDA
built-ins: every block runs as ``blockDim`` real threads, ``__syncthreads`` is a
``std::barrier``, dynamic shared memory is a NaN-filled buffer followed by a guard region (a write
past its end fails the launch), and ``cp.async`` is a plain copy.  ``EmuLauncher`` has the
launcher interface of ``itnet_ts.gpu.scan_cuda`` so the real launch plan, argument packing,
partial reductions and autograd wiring run on CPU tensors.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from itnet_ts.gpu import scan_cuda as sc

PRELUDE = r"""
#define ITNET_SCAN_CPU_EMU 1
#include <math.h>
#include <barrier>
#include <cstddef>
#include <cstring>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define ITNET_DEV inline
#define ITNET_SMEM_BASE(name) unsigned char* name = emu_smem

struct EmuDim { unsigned x, y, z; };
thread_local EmuDim threadIdx, blockIdx, blockDim, gridDim;
thread_local std::barrier<>* emu_bar = nullptr;
thread_local unsigned char* emu_smem = nullptr;
inline void __syncthreads() { emu_bar->arrive_and_wait(); }
inline float __fdividef(float a, float b) { return a / b; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, sizeof i); return i; }
"""

HARNESS = r"""
static const size_t EMU_GUARD = 256;

template <typename... A, size_t... I>
static void emu_call(void (*f)(A...), void** args, std::index_sequence<I...>) {
  f(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

template <typename... A>
static int emu_run(void (*f)(A...), int gx, int gy, int nt, long long smem, void** args) {
  std::vector<double> store((smem + EMU_GUARD) / sizeof(double) + 8);
  unsigned char* base = reinterpret_cast<unsigned char*>(store.data());
  unsigned char* const buf = base + (64 - reinterpret_cast<size_t>(base) % 64) % 64;
  for (int by = 0; by < gy; ++by) {
    for (int bx = 0; bx < gx; ++bx) {
      std::memset(buf, 0xFF, smem);  // NaN in float and double
      std::memset(buf + smem, 0xA5, EMU_GUARD);
      std::barrier<> bar(nt);
      std::vector<std::thread> threads;
      threads.reserve(nt);
      for (int tx = 0; tx < nt; ++tx) {
        threads.emplace_back([&, tx] {
          threadIdx = {unsigned(tx), 0u, 0u};
          blockIdx = {unsigned(bx), unsigned(by), 0u};
          blockDim = {unsigned(nt), 1u, 1u};
          gridDim = {unsigned(gx), unsigned(gy), 1u};
          emu_bar = &bar;
          emu_smem = buf;
          emu_call(f, args, std::index_sequence_for<A...>{});
        });
      }
      for (auto& t : threads) t.join();
      for (size_t i = 0; i < EMU_GUARD; ++i) {
        if (buf[smem + i] != 0xA5) return 1;  // shared-memory overrun
      }
    }
  }
  return 0;
}
"""


def compiler() -> str | None:
    """The host C++ compiler, or None."""
    return shutil.which("g++") or shutil.which("clang++")


def shared_workdir(tmp_path_factory) -> Path:
    """One build directory per pytest session: the library is keyed by its source's hash, so the
    test modules that use the emulation share one build."""
    path = tmp_path_factory.getbasetemp() / "scan_emu"
    path.mkdir(exist_ok=True)
    return path


def build(workdir: Path, names: list[str] | None = None) -> ctypes.CDLL:
    """Compile ``scan.cu`` + prelude + harness into a shared library exporting ``emu_launch``."""
    names = sc.all_kernel_names() if names is None else names
    dispatch = "\n".join(
        f'  if (!std::strcmp(name, "{n}")) return emu_run(&{n}, gx, gy, nt, smem, args);'
        for n in names
    )
    src = (
        PRELUDE
        + f'#include "{sc.SOURCE}"\n'
        + HARNESS
        + 'extern "C" int emu_launch(const char* name, int gx, int gy, int nt, long long smem,'
        + " void** args) {\n"
        + dispatch
        + "\n  return -1;\n}\n"
    )
    key = hashlib.sha256((src + sc.SOURCE.read_text()).encode()).hexdigest()[:16]
    lib = workdir / f"scan_emu_{key}.so"
    if not lib.exists():
        cpp = workdir / f"scan_emu_{key}.cpp"
        cpp.write_text(src)
        cmd = [compiler(), "-std=c++20", "-O0", "-pthread", "-shared", "-fPIC", "-w"]
        proc = subprocess.run([*cmd, "-o", str(lib), str(cpp)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"building the CPU emulation failed:\n{proc.stderr[-4000:]}")
    dll = ctypes.CDLL(str(lib))
    dll.emu_launch.restype = ctypes.c_int
    dll.emu_launch.argtypes = [
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_longlong,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    return dll


class EmuLauncher:
    """Launcher interface of ``scan_cuda`` that runs kernels in the CPU emulation."""

    def __init__(self, dll: ctypes.CDLL, smem_limit: int = 227 * 1024) -> None:
        self.dll = dll
        self.limit = smem_limit
        self.launches: list[tuple[str, tuple[int, int], int, int]] = []

    def smem_limit(self, device: torch.device) -> int:
        return self.limit

    def __call__(self, name, grid, block, smem, args) -> None:
        assert 1 <= block <= sc.MAX_THREADS, block
        assert smem <= self.limit, (smem, self.limit)
        vals = []
        for a in args:
            if isinstance(a, np.int32):
                vals.append(ctypes.c_int32(int(a)))
            elif isinstance(a, np.int64):
                vals.append(ctypes.c_int64(int(a)))
            elif isinstance(a, np.float32):
                vals.append(ctypes.c_float(float(a)))
            elif isinstance(a, np.float64):
                vals.append(ctypes.c_double(float(a)))
            elif isinstance(a, int):
                vals.append(ctypes.c_void_p(a))
            else:
                raise TypeError(f"unexpected kernel argument {a!r}")
        argv = (ctypes.c_void_p * len(vals))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in vals]
        )
        rc = self.dll.emu_launch(name.encode(), grid[0], grid[1], block, smem, argv)
        if rc != 0:
            raise RuntimeError(f"emulated launch of {name} failed with code {rc}")
        self.launches.append((name, tuple(grid), block, smem))


def guarded(t: torch.Tensor, pad: int = 64) -> torch.Tensor:
    """Copy of ``t`` inside a NaN-filled buffer, so out-of-bounds reads surface as NaN."""
    flat = torch.full((t.numel() + 2 * pad,), float("nan"), dtype=t.dtype)
    flat[pad : pad + t.numel()] = t.reshape(-1)
    return flat[pad : pad + t.numel()].view(t.shape)


class GuardedAlloc:
    """Replacement of ``scan_cuda._new``: NaN-filled outputs with NaN guards on both sides."""

    def __init__(self, pad: int = 64) -> None:
        self.pad = pad
        self.buffers: list[tuple[torch.Tensor, int]] = []

    def __call__(self, shape, like: torch.Tensor) -> torch.Tensor:
        n = int(np.prod(shape))
        flat = torch.full((n + 2 * self.pad,), float("nan"), dtype=like.dtype)
        self.buffers.append((flat, n))
        return flat[self.pad : self.pad + n].view(shape)

    def check(self) -> None:
        """Every guard still NaN (no out-of-bounds write) and every output written (no NaN)."""
        for flat, n in self.buffers:
            assert torch.isnan(flat[: self.pad]).all() and torch.isnan(flat[self.pad + n :]).all()
            body = flat[self.pad : self.pad + n]
            assert not torch.isnan(body).any(), "output element never written"
