# frozen_string_literal: true

module Appsignal
  module Hooks
    # Never together with ActiveRecord: its `sql.active_record` events already
    # time the same queries, and counting them twice would double the SQL time.
    class PgHook < Hook
      register :pg

      def dependencies_present?
        return false unless @config[:instrument_sql]

        defined?(::PG::Connection) && !defined?(::ActiveRecord) ? true : false
      end

      def install
        require "appsignal/integrations/pg"
        Appsignal::Integrations::PG.install
      end
    end
  end
end
