# frozen_string_literal: true

module Appsignal
  # Body formats understood by the extension: SQL bodies are obfuscated on the
  # reporter thread before anything leaves the process.
  module EventFormatter
    DEFAULT = 0
    SQL_BODY_FORMAT = 1
  end
end
