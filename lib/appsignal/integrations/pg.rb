# frozen_string_literal: true

module Appsignal
  module Integrations
    # Queries made with the pg gem directly (no ActiveRecord, whose own
    # `sql.active_record` events already cover them): `sql.postgres` events with the
    # SQL as body, obfuscated by the extension. Each method returns what pg
    # returned and raises what pg raised.
    module PG
      EVENT = "sql.postgres"
      SQL = Appsignal::EventFormatter::SQL_BODY_FORMAT

      # Runs the block as an event of the current transaction, if any.
      def self.instrument(title, sql)
        ext = Thread.current[Appsignal::Transaction::CURRENT_EXT]
        return yield if ext.nil? || defined?(::ActiveRecord)

        ext.start_event
        begin
          yield
        ensure
          ext.finish_event(EVENT, title, sql.is_a?(String) ? sql : sql.to_s, SQL)
        end
      end

      module ConnectionInstrumentation
        %i[exec query async_exec sync_exec exec_params async_exec_params sync_exec_params].each do |name|
          title = name.to_s.freeze
          define_method(name) do |sql, *args, &block|
            Appsignal::Integrations::PG.instrument(title, sql) { super(sql, *args, &block) }
          end
        end

        %i[exec_prepared async_exec_prepared sync_exec_prepared].each do |name|
          title = name.to_s.freeze
          define_method(name) do |statement_name, *args, &block|
            Appsignal::Integrations::PG.instrument(title, "EXECUTE #{statement_name}") do
              super(statement_name, *args, &block)
            end
          end
        end
      end

      def self.install
        return if ::PG::Connection <= ConnectionInstrumentation

        ::PG::Connection.prepend(ConnectionInstrumentation)
      end
    end
  end
end
