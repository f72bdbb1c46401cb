# frozen_string_literal: true

module Appsignal
  module Integrations
    # Every ActiveSupport::Notifications event (except Rails' internal `!` ones)
    # becomes an event of the current transaction: SQL queries, renders, cache
    # calls, controller actions, jobs. A subscriber object with start/finish, so
    # nesting follows the order in which Rails starts and finishes them.
    class ActiveSupportNotificationsSubscriber
      PATTERN = /\A[^!]/
      # The transaction each open event started in, per fiber: an event that
      # started outside a transaction (or in another one) is finished there.
      STACK = :__appsignal_asn_events
      SQL = Appsignal::EventFormatter::SQL_BODY_FORMAT
      DEFAULT = Appsignal::EventFormatter::DEFAULT

      def self.subscribe
        ::ActiveSupport::Notifications.subscribe(PATTERN, new)
      end

      def start(_name, _id, _payload)
        ext = Thread.current[Appsignal::Transaction::CURRENT_EXT]
        (Thread.current[STACK] ||= []) << ext
        ext&.start_event
      end

      def finish(name, _id, payload)
        ext = Thread.current[STACK]&.pop
        return unless ext

        title, body, body_format = EventFormats.format(name, payload)
        ext.finish_event(name, title, body, body_format || DEFAULT)
      end
    end

    # Title and body per event name, as the AppSignal gem shows them. One hash
    # lookup per event; other names get what a formatter registered with
    # `Appsignal::EventFormatter.register` returns, or neither.
    module EventFormats
      SQL = Appsignal::EventFormatter::SQL_BODY_FORMAT
      KINDS = {
        "sql.active_record" => :sql,
        "instantiation.active_record" => :instantiation,
        "perform.active_job" => :job,
        "enqueue.active_job" => :job
      }.merge(
        %w[render_template render_partial render_collection render_layout]
          .to_h { |name| ["#{name}.action_view", :render] },
        %w[read write fetch_hit generate delete exist? read_multi write_multi delete_multi increment decrement]
          .to_h { |name| ["cache_#{name}.active_support", :cache] }
      ).freeze

      module_function

      def format(name, payload)
        kind = KINDS[name]
        return Appsignal::EventFormatter.format(name, payload) unless kind

        case kind
        when :sql then [payload[:name], payload[:sql], SQL]
        when :render then [relative_path(payload[:identifier] || payload[:layout]), nil]
        # Keys are left out: they are built from app data ("user/42/email@...").
        when :cache then [payload[:store]&.to_s, nil]
        when :job then [payload[:job]&.class&.name, nil]
        when :instantiation then ["#{payload[:record_count]} × #{payload[:class_name]}", nil]
        end
      end

      def relative_path(identifier)
        return nil unless identifier

        identifier.to_s.delete_prefix(rails_root_prefix)
      end

      def rails_root_prefix
        @rails_root_prefix ||= begin
          root = defined?(::Rails) && ::Rails.respond_to?(:root) ? ::Rails.root : nil
          root ? "#{root}/" : "/"
        end
      end
    end
  end
end
