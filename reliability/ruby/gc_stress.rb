# frozen_string_literal: true

# Scenario 10 (Ruby part): the public API through the compiled extension with
# GC.stress = true, so every allocation runs a full GC. A Ruby object the extension
# holds without marking it, or a pointer it keeps into a moved or freed object,
# crashes or corrupts here. Then the data must still reach the Push API: the real
# agent transmits to the test receiver, and the counts are checked exactly.
#
# Run from the repository root after `rake compile`:
#   ruby -Ilib reliability/ruby/gc_stress.rb [TRANSACTIONS]
# Exits 0 when every check holds, 1 (with the reason) otherwise.

require "json"
require "net/http"
require "tmpdir"
require "fileutils"

ROOT = File.expand_path("../..", __dir__)
TRANSACTIONS = Integer(ARGV[0] || ENV["GC_STRESS_TRANSACTIONS"] || 40)

def fail!(message)
  warn "gc_stress: FAILED: #{message}"
  exit 1
end

def binary(name, env_var)
  return ENV[env_var] if ENV[env_var] && !ENV[env_var].empty?

  target = ENV["CARGO_TARGET_DIR"] || File.join(ROOT, "target")
  %w[release debug].map { |profile| File.join(target, profile, name) }.find { |p| File.executable?(p) } ||
    fail!("#{name} not built: run `cargo build -p appsignal-testkit -p appsignal-agent` or set #{env_var}")
end

extension = File.join(ROOT, "lib", "appsignal_extension.so")
fail!("#{extension} is missing: run `rake compile` first") unless File.exist?(extension)

dir = Dir.mktmpdir("gcs")
port_file = File.join(dir, "port")
receiver_pid = Process.spawn(binary("appsignal-test-receiver", "APPSIGNAL_TEST_RECEIVER"),
                             "--listen", "127.0.0.1:0", "--port-file", port_file,
                             out: File::NULL, err: File.join(dir, "receiver.err"))
deadline = Time.now + 10
sleep 0.02 until File.exist?(port_file) || Time.now > deadline
fail!("test receiver did not start: #{File.read(File.join(dir, "receiver.err"))}") unless File.exist?(port_file)
endpoint = "http://127.0.0.1:#{File.read(port_file).strip}"

working_dir = File.join(dir, "wd")
FileUtils.mkdir_p(working_dir)
{
  "APPSIGNAL_PUSH_API_KEY" => "gc-stress-key",
  "APPSIGNAL_APP_NAME" => "gc-stress",
  "APPSIGNAL_APP_ENV" => "test",
  "APPSIGNAL_PUSH_API_ENDPOINT" => endpoint,
  "APPSIGNAL_WORKING_DIRECTORY_PATH" => working_dir,
  "APPSIGNAL_TRANSMISSION_INTERVAL" => "1",
  "APPSIGNAL_ENABLE_HOST_METRICS" => "false",
  "APPSIGNAL_LOG_PATH" => working_dir,
  "APPSIGNAL_AGENT_PATH" => binary("appsignal-agent", "APPSIGNAL_AGENT_PATH")
}.each { |key, value| ENV[key] = value }

def agent_pid(working_dir)
  lock = File.join(working_dir, "agent.lock")
  File.exist?(lock) ? File.read(lock)[/^pid=(\d+)/, 1]&.to_i : nil
end

def payloads(endpoint)
  JSON.parse(Net::HTTP.get(URI("#{endpoint}/__payloads")))
end

def cleanup(receiver_pid, working_dir, dir)
  pid = agent_pid(working_dir)
  if pid
    begin
      Process.kill("TERM", pid)
      deadline = Time.now + 5
      sleep 0.05 while Time.now < deadline && (Process.kill(0, pid) rescue false) # rubocop:disable Style/RescueModifier
      Process.kill("KILL", pid) if (Process.kill(0, pid) rescue false) # rubocop:disable Style/RescueModifier
    rescue Errno::ESRCH, Errno::EPERM
      nil
    end
  end
  begin
    Process.kill("KILL", receiver_pid)
    Process.wait(receiver_pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end
  FileUtils.rm_rf(dir)
end

class GcStressError < StandardError; end

begin
  require "appsignal"
  Appsignal.configure(root_path: ROOT)
  fail!("AppSignal did not start (extension loaded: #{Appsignal::ExtensionLoader.loaded?})") unless Appsignal.start

  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  GC.stress = true
  TRANSACTIONS.times do |i|
    Appsignal.monitor(action: "GcStress#work", namespace: "web") do
      Appsignal.add_tags(iteration: i, kind: "stress")
      Appsignal.add_params("id" => i.to_s, "nested" => { "list" => [1, "two", :three] })
      Appsignal.add_custom_data(step: i, label: "x" * (i % 50))
      Appsignal.instrument("query.gc_stress", "Query #{i}", "SELECT * FROM t WHERE id = #{i}") do
        Appsignal.instrument("render.gc_stress") { "r" * 100 }
      end
      Appsignal.set_error(GcStressError.new("error #{i}")) if i.even?
    end
    Appsignal.increment_counter("gc_stress_counter", 1, kind: "stress")
    Appsignal.set_gauge("gc_stress_gauge", i.to_f)
    Appsignal.add_distribution_value("gc_stress_distribution", i.to_f)
  end
  GC.stress = false
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  Appsignal.stop

  expected_errors = (TRANSACTIONS + 1) / 2
  deadline = Time.now + 30
  count = errors = counter = 0
  loop do
    received = payloads(endpoint)
    actions = received.flat_map { |p| p["actions"] || [] }.select { |a| a["action"] == "GcStress#work" }
    count = actions.sum { |a| a["count"].to_i }
    errors = actions.sum { |a| a["error_count"].to_i }
    counter = received.flat_map { |p| p["metrics"] || [] }.select { |m| m["name"] == "gc_stress_counter" }
                      .sum { |m| m["value"].to_f }
    break if (count >= TRANSACTIONS && counter >= TRANSACTIONS) || Time.now > deadline

    sleep 0.2
  end
  puts format("gc_stress: %d transactions (%d errors, %d instrument events, 3 metrics each) under GC.stress " \
              "in %.1fs; receiver decoded %d transactions, %d errors, counter sum %d",
              TRANSACTIONS, expected_errors, 2 * TRANSACTIONS, elapsed, count, errors, counter.to_i)
  fail!("receiver got #{count} GcStress#work transactions, app sent #{TRANSACTIONS}") unless count == TRANSACTIONS
  fail!("receiver got #{errors} errors, app set #{expected_errors}") unless errors == expected_errors
  fail!("counter sum #{counter}, app incremented #{TRANSACTIONS} times") unless counter.to_i == TRANSACTIONS
  puts "gc_stress: ok"
ensure
  GC.stress = false
  cleanup(receiver_pid, working_dir, dir)
end
