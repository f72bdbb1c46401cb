# frozen_string_literal: true

# The micro benchmarks, each with the baseline it is compared with. `measure` is
# called with a block taking an iteration count; see bench/micro.rb.
class MicroCases
  NAME = "event.bench"

  def self.yield_to
    yield
  end

  def self.run(measure, iterations)
    new(measure, iterations).run
  end

  def initialize(measure, iterations)
    @measure = measure
    @iterations = iterations
    @results = {}
    @queue = Queue.new
  end

  def run
    floors
    instrument_cases
    monitor_cases
    metric_cases
    error_cases
    @results
  end

  private

  def add(label, baseline, note = nil, divisor: 1, &block)
    @results[label] = @measure.call(@iterations / divisor, &block).merge(label: label, baseline: baseline, note: note)
  end

  # A transaction in pure Ruby, the floor any Ruby-side design pays: events as
  # arrays in a Thread.current array, the array pushed to a Queue at the end.
  def pure_ruby_transaction(events)
    current = (Thread.current[:bench_events] = [])
    events.times do
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      MicroCases.yield_to { nil }
      current << [NAME, t0, Process.clock_gettime(Process::CLOCK_MONOTONIC)]
    end
    @queue << current
    Thread.current[:bench_events] = nil
  end

  def floors
    add("empty block", "empty block") { |n| n.times { MicroCases.yield_to { nil } } }
    add("pure-Ruby floor: 1 event", "empty block") do |n|
      events = []
      n.times do |i|
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        MicroCases.yield_to { nil }
        events << [NAME, t0, Process.clock_gettime(Process::CLOCK_MONOTONIC)]
        (@queue << events) && (events = []) if i % 16 == 15
      end
      @queue.clear
    end
  end

  def instrument_cases
    Appsignal::Transaction.create(Appsignal::Transaction::HTTP_REQUEST)
    add("Appsignal.instrument (in a transaction)", "pure-Ruby floor: 1 event",
        "target <= 200 ns above empty block") do |n|
      n.times do |i|
        if i % 1000 == 999 # stay below the per-transaction event cap
          Appsignal::Transaction.current.discard!
          Appsignal::Transaction.create(Appsignal::Transaction::HTTP_REQUEST)
        end
        Appsignal.instrument(NAME) { nil }
      end
    end
    Appsignal::Transaction.current.discard!
    Appsignal::Transaction.clear_current
    add("Appsignal.instrument (no transaction)", "empty block") do |n|
      n.times { Appsignal.instrument(NAME) { nil } }
    end
  end

  def monitor_cases
    [0, 3, 30].each do |events|
      floor = "pure-Ruby floor: tx + #{events} events"
      add(floor, floor, divisor: 10) do |n|
        n.times { pure_ruby_transaction(events) }
        @queue.clear
      end
      note = events == 3 ? "target <= 2000 ns" : nil
      add("Appsignal.monitor, #{events} events", floor, note, divisor: 10) do |n|
        n.times { Appsignal.monitor(action: "Bench#run") { events.times { Appsignal.instrument(NAME) { nil } } } }
      end
    end
  end

  def metric_cases
    floor = "pure-Ruby floor: metric to a Queue"
    add(floor, floor) do |n|
      n.times { @queue << [:counter, "bench", 1.0, nil] }
      @queue.clear
    end
    add("Appsignal.increment_counter", floor) { |n| n.times { Appsignal.increment_counter("bench", 1) } }
    tags = { region: "eu" }
    add("Appsignal.set_gauge with a tag", floor) { |n| n.times { Appsignal.set_gauge("bench.gauge", 3, tags) } }
    add("Appsignal.add_distribution_value", floor) do |n|
      n.times { Appsignal.add_distribution_value("bench.dist", 12.5) }
    end
  end

  def error_cases
    error = begin
      raise ArgumentError, "bench"
    rescue ArgumentError => e
      e
    end
    add("Appsignal.monitor + set_error", "Appsignal.monitor, 0 events", divisor: 10) do |n|
      n.times { Appsignal.monitor(action: "Bench#error") { Appsignal.set_error(error) } }
    end
  end
end
