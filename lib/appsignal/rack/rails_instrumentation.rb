# frozen_string_literal: true

module Appsignal
  module Rack
    # Rails: inserted by the Railtie after ActionDispatch::DebugExceptions, so it sees
    # errors before Rails turns them into error pages. The action is the controller
    # and action that handled the request, `UsersController#show`; params are Rails'
    # filtered parameters.
    class RailsInstrumentation < AbstractMiddleware
      CONTROLLER = "action_controller.instance"

      private

      def call_nested(env, transaction)
        super
      ensure
        add_request_data(transaction, ::Rack::Request.new(env), env)
      end

      def call_with_transaction(env, transaction)
        request_id = env["action_dispatch.request_id"]
        transaction.set_metadata("request_id", request_id) if request_id
        super
      end

      def action_name(env)
        controller = env[CONTROLLER]
        return super unless controller

        "#{controller.class.name}##{controller.action_name}"
      end

      def params_for(request)
        request_class = defined?(::ActionDispatch::Request) ? ::ActionDispatch::Request : nil
        return super unless request_class

        request_class.new(request.env).filtered_parameters
      rescue StandardError
        nil
      end
    end
  end
end
