# frozen_string_literal: true

require "socket"
require "appsignal/cli/command"

module Appsignal
  module CLI
    class Diagnose < Command
      # Whether an agent serves this configuration, from `{working_dir}/agent.lock`
      # (`pid=`, `version=`, `config=` lines). `config=` is a fingerprint of app name,
      # environment, push API key, endpoint, working directory and the OTLP settings,
      # computed the same way as the agent and extension do (64-bit FNV-1a, fields
      # NUL-terminated; appsignal_proto::agent_lock).
      class AgentStatus
        FNV_OFFSET = 0xcbf29ce484222325
        FNV_PRIME = 0x100000001b3
        MASK64 = 0xffffffffffffffff

        # `parts` in the agent's order: app name, environment, push API key, endpoint,
        # working directory, OTLP settings.
        def self.fingerprint(parts)
          hash = FNV_OFFSET
          parts.each do |part|
            "#{part}\0".each_byte { |byte| hash = ((hash ^ byte) * FNV_PRIME) & MASK64 }
          end
          format("%016x", hash)
        end

        # As the agent's `otlp_settings`: the variables as given, newline-joined.
        def self.otlp_settings(env = ENV)
          Appsignal::Config::OTLP_ENV.map { |name| env.fetch(name, "") }.join("\n")
        end

        def initialize(config, working_dir)
          @config = config
          @working_dir = working_dir
        end

        def lock_path
          File.join(@working_dir, "agent.lock")
        end

        def expected_fingerprint
          trimmed = [@config.app_name, @config.env, @config[:push_api_key], @config[:push_api_endpoint],
                     @working_dir].map { |part| part.to_s.strip }
          self.class.fingerprint(trimmed + [self.class.otlp_settings])
        end

        def socket_path
          File.join(@working_dir, "agent.socket")
        end

        def report
          socket = { socket_path: socket_path }.merge(socket_status)
          lock = read_lock
          unless lock
            return { lock_path: lock_path, lock: nil, running: false, serves_this_config: false }.merge(socket)
          end

          pid = lock["pid"].to_i
          running = pid.positive? && alive?(pid)
          { lock_path: lock_path, lock: lock, pid: pid, running: running,
            serves_this_config: running && lock["config"] == expected_fingerprint,
            expected_config: expected_fingerprint }.merge(socket)
        end

        private

        # Connecting is what the extension does: a socket file alone proves nothing.
        def socket_status
          UNIXSocket.new(socket_path).close
          { socket_connectable: true }
        rescue SystemCallError, IOError, ArgumentError => e
          { socket_connectable: false, socket_error: "#{e.class}: #{e.message}" }
        end

        def read_lock
          return nil unless File.file?(lock_path)

          File.read(lock_path).lines.to_h { |line| line.strip.split("=", 2) }.select { |_, v| v }
        rescue SystemCallError
          nil
        end

        def alive?(pid)
          Process.kill(0, pid)
          true
        rescue Errno::EPERM
          true # alive, owned by another user
        rescue Errno::ESRCH
          false
        end
      end
    end
  end
end
