# frozen_string_literal: true

require "spec_helper"
require "securerandom"
require "zlib"
require_relative "support/reliability_helpers"

# Scenario 9: an SQL literal and a filtered parameter value (random canaries) never
# appear in any byte the app's data produces on its way out: the request bodies
# as the Push API received them (gzip'd and decompressed), the request URLs, the
# payloads spooled on disk. The push API key never appears in any log file, not even
# when the Push API fails (500, 401) and the agent logs the requests it made.
RSpec.describe "reliability: nothing leaks" do
  include ReliabilityHelpers

  before do
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @out_dir = Dir.mktmpdir("rel")
  end

  after do
    stop_agent(@working_dir)
    @receiver.stop
    FileUtils.rm_rf([@working_dir, @out_dir])
  end

  def gunzip(bytes)
    Zlib.gunzip(bytes)
  rescue Zlib::Error
    ""
  end

  # Every file under the working dir (logs, lock, journals, spooled payloads) and the
  # app's own output, decompressed where gzip'd.
  def files_on_disk
    paths = Dir.glob(File.join(@working_dir, "**", "*"), File::FNM_DOTMATCH).select { |f| File.file?(f) }
    paths << File.join(@out_dir, "loop.log")
    paths.to_h do |path|
      bytes = File.binread(path)
      [path, path.end_with?(".gz") ? bytes + gunzip(bytes) : bytes]
    end
  end

  def hits(haystacks, needle)
    haystacks.select { |_, bytes| bytes.b.include?(needle.b) }.keys
  end

  it "sends no SQL literal or filtered value and logs no push API key" do
    key = "pushkey-#{SecureRandom.hex(12)}"
    sql = "sqlcanary#{SecureRandom.hex(8)}"
    password = "pwcanary#{SecureRandom.hex(8)}"
    action = "Reliability#leaks"
    phase = scale(2, 20)
    env = app_env(@receiver, @working_dir,
                  "APPSIGNAL_PUSH_API_KEY" => key, "APPSIGNAL_LOG_LEVEL" => "debug",
                  "APPSIGNAL_FILTER_PARAMETERS" => "password", "LOOP_SQL" => sql, "LOOP_PASSWORD" => password)
    loop_pid = spawn_loop(env, @out_dir, rate: 300, seconds: (phase * 3) + 2, action: action)
    sleep phase + 1
    @receiver.mode = "500"
    sleep phase
    @receiver.mode = "401"
    sleep phase
    @receiver.mode = "accept"
    wait_child(loop_pid, (phase * 3) + 60)
    app = read_result(File.join(@out_dir, "result.json"))
    wait_for_count(@receiver, action, 1, 20)
    sleep 2
    raw = @receiver.raw_bodies
    bodies = raw.each_with_index.to_h { |bytes, i| ["body #{i}", bytes + gunzip(bytes)] }
    urls = { "request urls" => JSON.generate(@receiver.requests) }
    disk = files_on_disk
    logs = disk.reject { |path, _| path.include?("/payloads/") || path.include?("/journal/") }
    sent = bodies.merge(urls)
    figure("9 leaks", "#{app["calls"]} transactions with an SQL literal and a filtered password, Push API " \
                      "500 then 401 then back; #{raw.length} bodies (#{raw.sum(&:bytesize)} bytes gzip'd), " \
                      "#{disk.length} files on disk, #{logs.length} of them logs " \
                      "(#{logs.values.sum(&:bytesize)} bytes); SQL canary in #{hits(sent.merge(disk), sql).length}, " \
                      "password canary in #{hits(sent.merge(disk), password).length}, push API key in logs " \
                      "#{hits(logs, key).length}")

    expect(app["error_count"]).to eq(0)
    # The data did go out: the obfuscated query and the filtered key are in the bodies.
    expect(hits(bodies, "SELECT * FROM t WHERE s = ?")).not_to be_empty
    expect(hits(bodies, "[FILTERED]")).not_to be_empty
    expect(logs.keys).to include(File.join(@working_dir, "appsignal.log"))
    expect(hits(logs, "401")).not_to be_empty, "the agent logged nothing about the rejected requests"
    expect(hits(sent.merge(disk), sql)).to be_empty
    expect(hits(sent.merge(disk), password)).to be_empty
    expect(hits(logs, key)).to be_empty
  end
end
