// What every harness shares: a private scratch folder for readers that only take a path, and the
// check that turns an inconsistent accepted input into a finding.
//
// A harness calls the reader under test inside try/catch(const std::exception&): a thrown exception
// is the reader rejecting bad bytes, which is what it should do. Findings are everything else:
// crashes, ASan/UBSan reports, leaks, timeouts, out-of-memory, and FUZZ_CHECK failures on inputs
// the reader accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

namespace unet::fuzz {

// A folder created once per process (mkdtemp) under $TMPDIR, else /dev/shm, else /tmp, and removed
// with its contents at exit. Fuzzing processes never share files.
const std::string& scratch_dir();

// Writes the input to "<scratch_dir>/<name>" (replacing it) and returns that path. Aborts if the
// write fails: a harness that cannot write its input would otherwise report nothing forever.
std::string write_scratch(const std::string& name, const uint8_t* data, size_t size);

// With UNET_FUZZ_VERBOSE=1 in the environment, prints why an input was refused or that it was
// accepted (for triage: `UNET_FUZZ_VERBOSE=1 build-fuzz/fuzz/npy_fuzz file.npy`); silent otherwise.
void note_refused(const std::exception& e);
void note_accepted();

// Prints the failed condition and aborts, so libFuzzer saves the input as a crash.
[[noreturn]] void check_failed(const char* condition, const char* file, int line);

}  // namespace unet::fuzz

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::unet::fuzz::check_failed(#cond, __FILE__, __LINE__))
