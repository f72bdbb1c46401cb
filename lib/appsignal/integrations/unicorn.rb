# frozen_string_literal: true

module Appsignal
  module Integrations
    # Unicorn workers: restart the reporter before the worker loop starts.
    # `worker_loop` returns (and raises) exactly what Unicorn's did.
    module Unicorn
      module WorkerLoop
        private

        def worker_loop(worker)
          Appsignal.forked
          super
        end
      end

      def self.install
        return if ::Unicorn::HttpServer <= WorkerLoop

        # Keep the original's visibility (private in Unicorn 4-6).
        WorkerLoop.send(:public, :worker_loop) if ::Unicorn::HttpServer.public_method_defined?(:worker_loop)
        ::Unicorn::HttpServer.prepend(WorkerLoop)
      end
    end
  end
end
