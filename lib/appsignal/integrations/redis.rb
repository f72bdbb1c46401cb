# frozen_string_literal: true

module Appsignal
  module Integrations
    # redis-rb 4.x: `query.redis` events titled with the server id, the body only
    # the command and a `?` per argument (`set ? ?`): values never leave the app.
    module Redis
      EVENT = "query.redis"

      module_function

      def sanitize(command)
        name = command[0]
        args = command.length - 1
        if name.to_s.casecmp?("eval") || name.to_s.casecmp?("evalsha")
          # The script (or its sha) is code, not data; keys and args are data.
          "#{name} #{command[1]}#{" ?" * (args - 1)}"
        else
          "#{name}#{" ?" * args}"
        end
      end

      def instrument(title, body)
        ext = Thread.current[Appsignal::Transaction::CURRENT_EXT]
        return yield unless ext

        ext.start_event
        begin
          yield
        ensure
          ext.finish_event(EVENT, title, body, Appsignal::EventFormatter::DEFAULT)
        end
      end

      module ClientInstrumentation
        def call(command, &block)
          return super unless Thread.current[Appsignal::Transaction::CURRENT_EXT]

          Appsignal::Integrations::Redis.instrument(id, Appsignal::Integrations::Redis.sanitize(command)) { super }
        end

        def call_pipeline(pipeline)
          return super unless Thread.current[Appsignal::Transaction::CURRENT_EXT]

          body = pipeline.commands.map { |command| Appsignal::Integrations::Redis.sanitize(command) }.join("\n")
          Appsignal::Integrations::Redis.instrument(id, body) { super }
        end
      end

      def install
        return if ::Redis::Client <= ClientInstrumentation

        ::Redis::Client.prepend(ClientInstrumentation)
      end
    end
  end
end
