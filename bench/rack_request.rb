# frozen_string_literal: true

# App-thread CPU per Rack request through InstrumentationMiddleware, with sample
# data written for every transaction (as before the sample gate) and only for those
# that could become samples (now), against the bare app; same run, toggled
# in-process. `ruby bench/rack_request.rb` after `rake compile`.
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require_relative "support/bench_env"
require "rack"
require "rack/mock"

ROUNDS = 7
REQUESTS = BenchEnv.scale == :smoke ? 200 : 20_000

def thread_cpu = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)

def per_request_us(app, env)
  started = thread_cpu
  REQUESTS.times do
    _, _, body = app.call(env.dup)
    body.close if body.respond_to?(:close)
  end
  (thread_cpu - started) / REQUESTS * 1e6
end

def write_all_sample_data(value)
  Appsignal::Transaction.instance_variable_set(:@write_all_sample_data, value)
end

BenchEnv.with_agent do
  require "appsignal"
  Appsignal.start
  hello = ->(_env) { [200, { "content-type" => "text/plain" }, ["hello"]] }
  app = Appsignal::Rack::InstrumentationMiddleware.new(hello)
  env = Rack::MockRequest.env_for("/hello?a=1&b=2", "HTTP_USER_AGENT" => "wrk", "HTTP_ACCEPT" => "*/*")
  per_request_us(app, env) # warm-up
  rounds = { "bare app" => [], "sample data for every transaction (before)" => [],
             "sample data only where it could be a sample (now)" => [] }
  ROUNDS.times do
    rounds["bare app"] << per_request_us(hello, env)
    write_all_sample_data(true)
    rounds["sample data for every transaction (before)"] << per_request_us(app, env)
    write_all_sample_data(false)
    rounds["sample data only where it could be a sample (now)"] << per_request_us(app, env)
  end
  rounds.each do |name, values|
    puts format("%<name>-52s %<us>8.2f µs/request", name: name, us: values.sort[ROUNDS / 2])
  end
end
