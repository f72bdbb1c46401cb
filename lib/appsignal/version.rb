# frozen_string_literal: true

module Appsignal
  VERSION = "0.1.0"
end
