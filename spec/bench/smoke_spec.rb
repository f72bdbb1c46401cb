# frozen_string_literal: true

require "spec_helper"
require "open3"
require "tmpdir"

# Keeps the benchmarks from rotting: `bench/run.rb` runs every section for a moment
# (BENCH_SMOKE=1) and each row must carry a figure. Never asserts a time.
RSpec.describe "rake bench (smoke run)" do
  expected_rows = [
    "empty block [interp]",
    "empty block [YJIT]",
    "pure-Ruby floor: tx + 3 events [interp]",
    "Appsignal.instrument (in a transaction) [interp]",
    "Appsignal.instrument (in a transaction) [YJIT]",
    "Appsignal.monitor, 0 events [YJIT]",
    "Appsignal.monitor, 3 events [interp]",
    "Appsignal.monitor, 30 events [interp]",
    "Appsignal.increment_counter [interp]",
    "Appsignal.monitor + set_error [interp]",
    "event push (start+finish)",
    "transaction 3 events + finish + send",
    "frame encode (16 tx x 4 events)",
    "agent decode + aggregate (4 events/tx)",
    "payload of 10k tx: encode + gzip",
    "SQL obfuscation: AR find (pg)",
    "agent CPU at 1k tx/s (4 events)",
    "agent CPU at 10k tx/s (4 events)",
    "agent ingest, 2 clients flat out",
    "agent RSS after load",
    "Rack hello world, Puma -w 1: throughput kept",
    "Rack hello world, Puma -w 1: p99 latency"
  ].freeze

  it "runs every benchmark and prints one table with a figure and a baseline on each row" do
    Dir.mktmpdir("bench-smoke") do |dir|
      markdown = File.join(dir, "table.md")
      output, status = Open3.capture2e({ "BENCH_SMOKE" => "1" }, RbConfig.ruby, "bench/run.rb", "--markdown", markdown,
                                       chdir: SpecPaths::ROOT)
      expect(status).to be_success, output
      rows = File.readlines(markdown).drop(2).map { |line| line.split(" | ").map(&:strip) }
      by_name = rows.to_h { |cells| [cells[1], cells] }
      expected_rows.each do |name|
        cells = by_name[name]
        expect(cells).not_to be_nil, "no row #{name.inspect} in:\n#{output}"
        expect(cells[2]).to match(/\A-?\d+(\.\d+)?\z/), "#{name}: figure #{cells[2].inspect}"
        expect(cells[5]).to match(/\A-?\d+(\.\d+)?\z/), "#{name}: baseline #{cells[5].inspect}"
      end
      expect(output).to include("section", "benchmark", "baseline (same run)", "target")
    end
  end
end
