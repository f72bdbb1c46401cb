# frozen_string_literal: true

# A PushReceiver on a port chosen by the spec, so it can be killed (the Push API
# refusing connections) and started again at the same endpoint.
class FixedPortReceiver < PushReceiver
  def initialize(port)
    super()
    @port = port
  end

  def start
    @dir = Dir.mktmpdir("recv")
    @pid = Process.spawn(SpecPaths.test_receiver, "--listen", "127.0.0.1:#{@port}",
                         out: File::NULL, err: File.join(@dir, "stderr"))
    @endpoint = "http://127.0.0.1:#{@port}"
    deadline = Time.now + 10
    begin
      TCPSocket.new("127.0.0.1", @port).close
    rescue SystemCallError
      raise "test receiver did not listen on #{@port}" if Time.now > deadline

      sleep 0.02
      retry
    end
    self
  end
end
