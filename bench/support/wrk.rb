# frozen_string_literal: true

require "open3"

# Runs wrk and reads requests/s, p99 latency and errors from its report.
module Wrk
  THREADS = 2
  CONNECTIONS = 8
  UNITS = { "us" => 0.001, "ms" => 1.0, "s" => 1000.0 }.freeze

  module_function

  def run(url, seconds)
    output, status = Open3.capture2e("wrk", "-t#{THREADS}", "-c#{CONNECTIONS}", "-d#{seconds}s", "--latency", url)
    raise "wrk failed (#{status}): #{output}" unless status.success?

    parse(output)
  end

  def parse(output)
    rps = output[%r{Requests/sec:\s+([\d.]+)}, 1]
    raise "no Requests/sec in the wrk report:\n#{output}" unless rps

    p99 = output.match(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/)
    socket_errors = output[/Socket errors:(.*)$/, 1].to_s.scan(/\d+/).sum(&:to_i)
    {
      rps: Float(rps),
      p99_ms: p99 ? Float(p99[1]) * UNITS.fetch(p99[2]) : nil,
      errors: output[/Non-2xx or 3xx responses:\s+(\d+)/, 1].to_i + socket_errors
    }
  end
end
