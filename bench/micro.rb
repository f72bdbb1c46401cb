# frozen_string_literal: true

# Micro benchmarks of the app-thread cost, each against baselines measured in the
# same run: ns per call (median of several timed rounds after a warm-up) and Ruby
# objects allocated per call (GC.stat deltas).
#
#   ruby bench/micro.rb            (uses lib/ and `rake compile` output)
#   BENCH_ITERATIONS=200000 ruby bench/micro.rb
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require_relative "support/bench_env"
require "appsignal"

ITERATIONS = Integer(ENV.fetch("BENCH_ITERATIONS", "200000"))
ROUNDS = 7

def measure(iterations = ITERATIONS)
  yield(1000) # warm-up
  times = Array.new(ROUNDS) do
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
    yield(iterations)
    Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - start
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
  name = "event.bench"
  results = {}

  results["empty block"] = measure { |n| n.times { yield_to { nil } } }
  results["pure-Ruby floor (Thread.current array + Queue)"] = measure do |n|
    queue = Queue.new
    n.times do
      events = (Thread.current[:bench_events] ||= [])
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      nil
      events << [name, t0, Process.clock_gettime(Process::CLOCK_MONOTONIC)]
      queue << events.shift if events.length > 16
    end
  end
  Appsignal::Transaction.create(Appsignal::Transaction::HTTP_REQUEST)
  results["Appsignal.instrument (in a transaction)"] = measure { |n| n.times { Appsignal.instrument(name) { nil } } }
  Appsignal::Transaction.current.discard!
  Appsignal::Transaction.clear_current
  results["Appsignal.instrument (no transaction)"] = measure { |n| n.times { Appsignal.instrument(name) { nil } } }
  [0, 3, 30].each do |events|
    results["Appsignal.monitor with #{events} events"] = measure(ITERATIONS / 10) do |n|
      n.times { Appsignal.monitor(action: "Bench#run") { events.times { Appsignal.instrument(name) { nil } } } }
    end
  end
  results["Appsignal.increment_counter"] = measure { |n| n.times { Appsignal.increment_counter("bench", 1) } }
  error = RuntimeError.new("bench")
  results["monitor + set_error"] = measure(ITERATIONS / 10) do |n|
    n.times { Appsignal.monitor(action: "Bench#error") { Appsignal.set_error(error) } }
  end

  baseline = results["empty block"][:ns]
  puts format("%-50<name>s %10<ns>s %12<ratio>s %12<alloc>s", name: "benchmark", ns: "ns/call",
                                                                  ratio: "x empty", alloc: "allocs/call")
  results.each do |label, r|
    puts format("%-50<name>s %10.1<ns>f %12.2<ratio>f %12.2<alloc>f",
                name: label, ns: r[:ns], ratio: r[:ns] / baseline, alloc: r[:allocations])
  end
  puts "instrument event cost above the empty block: " \
       "#{format("%.1f", results["Appsignal.instrument (in a transaction)"][:ns] - baseline)} ns"
  puts "stats: #{Appsignal::Extension.stats}"
end

BEGIN {
  def yield_to
    yield
  end
}
