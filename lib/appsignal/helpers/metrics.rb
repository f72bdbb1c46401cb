# frozen_string_literal: true

module Appsignal
  module Helpers
    # Custom metrics, from any thread, with or without a transaction. Aggregated per
    # minute by the agent: counters summed, gauges last value, distributions
    # count/sum/min/max/percentiles.
    module Metrics
      COUNTER = 1
      GAUGE = 2
      DISTRIBUTION = 3

      def increment_counter(key, value = 1.0, tags = {})
        add_metric(COUNTER, key, value, tags)
      end

      def set_gauge(key, value, tags = {})
        add_metric(GAUGE, key, value, tags)
      end

      def add_distribution_value(key, value, tags = {})
        add_metric(DISTRIBUTION, key, value, tags)
      end

      private

      def add_metric(kind, key, value, tags)
        return unless active?

        Appsignal::Extension.add_metric(kind, key.to_s, Float(value), metric_tags(tags))
      rescue ArgumentError, TypeError
        internal_logger.warn("metric #{key.inspect} needs a numeric value, got #{value.inspect}; ignored")
        nil
      end

      def metric_tags(tags)
        return [] unless tags.is_a?(Hash)

        tags.map { |tag, tag_value| [tag.to_s, tag_value.to_s] }
      end
    end
  end
end
