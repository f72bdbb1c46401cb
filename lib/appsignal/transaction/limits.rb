# frozen_string_literal: true

module Appsignal
  class Transaction
    # Caps on what one transaction carries, as the extension's (ext/core/src/limits.rs).
    # Beyond them data is cut, never an error, and how much was cut is sent as
    # `tags_dropped` / `breadcrumbs_dropped` metadata.
    module Limits
      TAGS_LIMIT = 100
      BREADCRUMBS_LIMIT = 20

      private

      def store_tag(key, value)
        tags = (@tags ||= {})
        return tags[key] = value if tags.length < TAGS_LIMIT || tags.key?(key)

        @tags_dropped = (@tags_dropped || 0) + 1
      end

      # The extension keeps the latest BREADCRUMBS_LIMIT; this counts them all.
      def count_breadcrumb
        @breadcrumbs_added = (@breadcrumbs_added || 0) + 1
      end

      def cut_anything?
        @tags_dropped || (@breadcrumbs_added && @breadcrumbs_added > BREADCRUMBS_LIMIT)
      end

      def write_cut_counts
        @ext.set_metadata("tags_dropped", @tags_dropped.to_s) if @tags_dropped
        dropped = (@breadcrumbs_added || 0) - BREADCRUMBS_LIMIT
        @ext.set_metadata("breadcrumbs_dropped", dropped.to_s) if dropped.positive?
      end
    end
  end
end
