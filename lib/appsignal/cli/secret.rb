# frozen_string_literal: true

module Appsignal
  module CLI
    # The push API key never appears in full in anything a command prints or writes
    # as a report: enough of it to tell two keys apart, never enough to use it.
    module Secret
      SHOWN_CHARACTERS = 4
      # Below this length even 4 characters give away too much of the key.
      MIN_LENGTH_TO_SHOW_PREFIX = 12

      module_function

      def mask(key)
        key = key.to_s
        return "(none)" if key.strip.empty?
        return "(masked)" if key.length < MIN_LENGTH_TO_SHOW_PREFIX

        "#{key[0, SHOWN_CHARACTERS]}...(masked)"
      end

      # Replaces every occurrence of the key in text (log lines, error messages).
      def scrub(text, key)
        key = key.to_s
        return text if key.strip.empty?

        text.to_s.gsub(key, mask(key))
      end
    end
  end
end
