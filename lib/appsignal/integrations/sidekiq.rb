# frozen_string_literal: true

module Appsignal
  module Integrations
    # Sidekiq server processes: each job is a `background_job` transaction named
    # `WorkerClass#perform`, with the job's arguments as (filtered) params, its
    # queue, id and retry count as metadata, and the time it waited in the queue.
    # Errors are recorded and re-raised, so Sidekiq's retries work as before.
    module Sidekiq
      class ServerMiddleware
        # Job keys that are not metadata: shown elsewhere, or noise.
        EXCLUDED_JOB_KEYS = %w[
          args backtrace class created_at enqueued_at error_backtrace error_class
          error_message failed_at jid retried_at retry wrapped encrypt
        ].freeze
        ACTIVE_JOB_WRAPPER = "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper"

        def call(_worker, job, _queue, &block)
          return yield unless Appsignal.active?

          transaction = Appsignal::Transaction.create(Appsignal::Transaction::BACKGROUND_JOB)
          begin
            describe(transaction, job)
            transaction.instrument("perform_job.sidekiq", &block)
          rescue Exception => e # rubocop:disable Lint/RescueException
            transaction.set_error(e)
            raise
          ensure
            transaction.add_params_if_nil { arguments(job) }
            transaction.complete
            Appsignal::Transaction.clear_current
          end
        end

        private

        def describe(transaction, job)
          transaction.set_action(action_name(job))
          transaction.set_metadata("job_id", job["jid"])
          job.each do |key, value|
            next if EXCLUDED_JOB_KEYS.include?(key)

            transaction.set_metadata(key, value.is_a?(String) ? value : value.inspect[0, 200])
          end
          enqueued_at = job["enqueued_at"]
          transaction.set_queue_start((enqueued_at.to_f * 1000).to_i) if enqueued_at.is_a?(Numeric)
        end

        def action_name(job)
          name = (job["class"] == ACTIVE_JOB_WRAPPER && job["wrapped"]) || job["class"]
          name.to_s.match?(/[.#]/) ? name.to_s : "#{name}#perform"
        end

        # Active Job's own arguments are added by its integration.
        def arguments(job)
          return nil if job["class"] == ACTIVE_JOB_WRAPPER

          args = job["args"]
          return args unless job["encrypt"] && args.is_a?(Array) && !args.empty?

          args[0...-1] + ["[encrypted data]"]
        end
      end

      module_function

      # Zero code in a Sidekiq server: start once Sidekiq loaded the app (so the
      # app's own `Appsignal.configure` ran), from config/appsignal.yml or env vars.
      def start_with_server
        ::Sidekiq.configure_server do |config|
          config.on(:startup) { Appsignal.start unless Appsignal.started? }
        end
      end

      def install
        ::Sidekiq.configure_server do |config|
          config.server_middleware do |chain|
            chain.add(ServerMiddleware) unless chain.exists?(ServerMiddleware)
          end
        end
      end
    end
  end
end
