# frozen_string_literal: true

module Appsignal
  module Integrations
    # Adds AppSignal to Puma's worker hooks (`before_worker_boot`,
    # `before_worker_shutdown`), as the app's puma.rb would with `on_worker_boot`.
    module Puma
      # Puma 5 stores hooks as procs and calls `hook.call(index)`; later versions
      # store `{ block:, cluster_only: }` and call `hook[:block].call(index)`. This
      # answers both, so one install works whichever Puma runs it.
      class Callback
        def initialize(&block)
          @block = block
        end

        def call(*_args)
          @block.call
        rescue StandardError => e
          Appsignal.internal_logger.error("AppSignal Puma hook failed: #{e.class}: #{e.message}")
        end

        def [](key)
          case key
          when :block then self
          when :cluster_only then true
          end
        end
      end

      module_function

      def install(config)
        options = config.options
        return if options[:appsignal_hooks_installed]

        options[:appsignal_hooks_installed] = true
        add_hook(options, :before_worker_boot, Callback.new { Appsignal.forked })
        add_hook(options, :before_worker_shutdown, Callback.new { Appsignal.stop("puma before_worker_shutdown") })
      end

      def add_hook(options, key, callback)
        hooks = options[key]
        if hooks.is_a?(Array)
          hooks << callback
        else
          options[key] = [callback]
        end
      end
    end
  end
end
