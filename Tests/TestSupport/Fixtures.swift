// The light fixtures (vectors, transcripts, the seeded generator) for every suite that imports TestSupport.
@_exported import TestFixtures
// A child process's output lines, waited for (shared with the benchmarks that drive `posd run`).
@_exported import class BenchSupport.LineWatcher
