# Cloudflare zone play.lanternforge.example: WAF custom rules, rate limits, DDoS overrides.

resource "cloudflare_zone" "play" {
  account_id = var.cloudflare_account_id
  zone       = "play.lanternforge.example"
  plan       = "enterprise"
}

resource "cloudflare_ruleset" "zone_custom" {
  zone_id     = cloudflare_zone.play.id
  name        = "custom firewall rules"
  description = "WAF custom rules for play.lanternforge.example"
  kind        = "zone"
  phase       = "http_request_firewall_custom"

  rules {
    action      = "block"
    description = "block requests without User-Agent"
    expression  = "(len(http.user_agent) eq 0)"
    enabled     = true
  }

  rules {
    action      = "managed_challenge"
    description = "challenge login from hosting ASNs"
    expression  = "(http.request.uri.path eq \"/login\" and ip.geoip.asnum in $hosting_asns)"
    enabled     = true
  }
}

resource "cloudflare_ruleset" "rate_limits" {
  zone_id = cloudflare_zone.play.id
  name    = "rate limits"
  kind    = "zone"
  phase   = "http_ratelimit"

  rules {
    action      = "block"
    description = "store catalog: 300 requests per 10 s per IP"
    expression  = "(http.request.uri.path matches \"^/v1/store/catalog\")"
    ratelimit {
      characteristics     = ["ip.src", "cf.colo.id"]
      period              = 10
      requests_per_period = 300
      mitigation_timeout  = 600
    }
  }
}

resource "cloudflare_ruleset" "ddos_l7" {
  zone_id = cloudflare_zone.play.id
  name    = "HTTP DDoS overrides"
  kind    = "zone"
  phase   = "ddos_l7"

  rules {
    action = "execute"
    action_parameters {
      id = var.cloudflare_ddos_managed_ruleset_id
      overrides {
        sensitivity_level = "default"
        action            = "block"
      }
    }
    expression = "true"
  }
}

resource "cloudflare_zone_settings_override" "play" {
  zone_id = cloudflare_zone.play.id
  settings {
    websockets       = "on"
    min_tls_version  = "1.2"
    security_level   = "medium"
    always_use_https = "on"
  }
}
