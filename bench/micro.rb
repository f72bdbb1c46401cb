# frozen_string_literal: true

# Micro benchmarks of the app-thread cost, each against a baseline measured in the
# same run: ns per call (median of several timed rounds after a warm-up, in CPU time
# of the app thread, which a busy machine disturbs far less than wall time) and Ruby
# objects allocated per call (GC.stat deltas). `bench/run.rb` runs this with YJIT
# on and off and puts the rows in its table.
#
#   ruby bench/micro.rb                 a table
#   ruby --yjit bench/micro.rb --tsv    rows for bench/run.rb
#   BENCH_QUICK=1 / BENCH_SMOKE=1       shorter runs (smoke: only proves it runs)
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require_relative "support/bench_env"
require_relative "support/micro_cases"
require "appsignal"

SCALE = BenchEnv.scale
ITERATIONS = Integer(ENV.fetch("BENCH_ITERATIONS", { full: 200_000, quick: 50_000, smoke: 500 }.fetch(SCALE)))
ROUNDS = { full: 7, quick: 5, smoke: 1 }.fetch(SCALE)

def measure(iterations = ITERATIONS)
  yield([iterations / 10, 100].min) # warm-up (and YJIT compilation)
  times = Array.new(ROUNDS) do
    start = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond)
    yield(iterations)
    Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond) - start
  end
  GC.start
  GC.disable
  before = GC.stat(:total_allocated_objects)
  yield(iterations)
  allocated = GC.stat(:total_allocated_objects) - before
  GC.enable
  { ns: times.sort[ROUNDS / 2].fdiv(iterations), allocations: allocated.fdiv(iterations) }
end

BenchEnv.with_agent do
  Appsignal.start || abort("AppSignal did not start; see the log in #{BenchEnv.working_dir}")
  results = MicroCases.run(method(:measure), ITERATIONS)
  jit = defined?(RubyVM::YJIT) && RubyVM::YJIT.enabled? ? "YJIT" : "interp"
  if ARGV.include?("--tsv")
    results.each_value do |r|
      baseline = results.fetch(r[:baseline])
      puts ["micro", "#{r[:label]} [#{jit}]", format("%.1f", r[:ns]), "ns/call", "#{r[:baseline]} [#{jit}]",
            format("%.1f", baseline[:ns]), format("%.2f", r[:ns] / baseline[:ns]),
            format("%.2f", r[:allocations]), r[:note].to_s].join("\t")
    end
  else
    puts "#{jit}, #{ITERATIONS} iterations x #{ROUNDS} rounds"
    puts format("%-44<name>s %9<ns>s %-40<base>s %8<ratio>s %8<alloc>s  %<note>s",
                name: "benchmark", ns: "ns/call", base: "baseline", ratio: "ratio", alloc: "allocs", note: "")
    results.each_value do |r|
      baseline = results.fetch(r[:baseline])
      puts format("%-44<name>s %9.1<ns>f %-40<base>s %7.2<ratio>fx %8.2<alloc>f  %<note>s",
                  name: r[:label], ns: r[:ns], base: r[:baseline], ratio: r[:ns] / baseline[:ns],
                  alloc: r[:allocations], note: r[:note])
    end
    puts "stats: #{Appsignal::Extension.stats}"
  end
end
