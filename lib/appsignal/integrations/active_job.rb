# frozen_string_literal: true

require "time"

module Appsignal
  module Integrations
    # Each Active Job run is a `background_job` transaction named `JobClass#perform`.
    # Queue adapters run jobs through `ActiveJob::Base.execute(job_data)`; under
    # Sidekiq the job already has Sidekiq's transaction, which is renamed instead.
    module ActiveJob
      module ClassInstrumentation
        def execute(job_data)
          Appsignal::Integrations::ActiveJob.monitor(job_data) { super }
        end
      end

      module_function

      def install
        ::ActiveSupport.on_load(:active_job) do
          singleton_class.prepend(ClassInstrumentation) unless singleton_class <= ClassInstrumentation
        end
      end

      def monitor(job)
        return yield unless Appsignal.active? && job.is_a?(Hash)

        outer = Appsignal::Transaction.current? ? Appsignal::Transaction.current : nil
        wrapped = outer && outer.namespace == Appsignal::Transaction::BACKGROUND_JOB
        transaction = wrapped ? outer : Appsignal::Transaction.create(Appsignal::Transaction::BACKGROUND_JOB)
        begin
          yield
        rescue Exception => e # rubocop:disable Lint/RescueException
          transaction.set_error(e)
          raise
        ensure
          describe(transaction, job)
          unless wrapped
            transaction.complete
            Appsignal::Transaction.restore_current(outer)
          end
        end
      end

      def describe(transaction, job)
        transaction.set_action("#{job["job_class"]}#perform") if job["job_class"]
        transaction.add_params_if_nil(job["arguments"])
        transaction.add_tags(
          "queue" => job["queue_name"], "active_job_id" => job["job_id"],
          "provider_job_id" => job["provider_job_id"], "executions" => job["executions"],
          "priority" => job["priority"]
        )
        enqueued_at = job["enqueued_at"]
        transaction.set_queue_start((Time.iso8601(enqueued_at).to_f * 1000).to_i) if enqueued_at.is_a?(String)
      rescue ArgumentError
        nil
      end
    end
  end
end
