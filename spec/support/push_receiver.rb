# frozen_string_literal: true

require "json"
require "net/http"
require "tmpdir"

# The test Push API receiver (testkit/, a real HTTP server in its own process).
# Decoded payloads come back as JSON with the proto field names.
class PushReceiver
  attr_reader :endpoint

  def self.start
    receiver = new
    receiver.start
    receiver
  end

  def start
    @dir = Dir.mktmpdir("recv")
    port_file = File.join(@dir, "port")
    @pid = Process.spawn(SpecPaths.test_receiver, "--listen", "127.0.0.1:0", "--port-file", port_file,
                         out: File::NULL, err: File.join(@dir, "stderr"))
    deadline = Time.now + 10
    sleep 0.02 until File.exist?(port_file) || Time.now > deadline
    raise "test receiver did not start: #{File.read(File.join(@dir, "stderr"))}" unless File.exist?(port_file)

    @endpoint = "http://127.0.0.1:#{File.read(port_file).strip}"
  end

  def stop
    Process.kill("KILL", @pid)
    Process.wait(@pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  ensure
    FileUtils.rm_rf(@dir) if @dir
  end

  def payloads
    JSON.parse(get("/__payloads"))
  end

  def requests
    JSON.parse(get("/__requests"))
  end

  # The gzip'd bodies exactly as they arrived, for byte-level leak checks.
  def raw_bodies
    JSON.parse(get("/__raw_bodies_hex")).map { |hex| [hex].pack("H*") }
  end

  # "accept", "hang", or an HTTP status such as 500.
  def mode=(mode)
    Net::HTTP.post(URI("#{@endpoint}/__mode?status=#{mode}"), "")
  end

  # Polls until the block is true for the payloads received so far.
  def wait_for(timeout: 20)
    deadline = Time.now + timeout
    loop do
      current = payloads
      return current if yield(current)
      raise "timed out after #{timeout}s waiting for payloads; got #{current.length}" if Time.now > deadline

      sleep 0.1
    end
  end

  # Every ActionMinute across payloads.
  def self.actions(payloads)
    payloads.flat_map { |payload| payload["actions"] || [] }
  end

  def self.samples(payloads)
    payloads.flat_map { |payload| payload["samples"] || [] }
  end

  private

  def get(path)
    Net::HTTP.get(URI("#{@endpoint}#{path}"))
  end
end
