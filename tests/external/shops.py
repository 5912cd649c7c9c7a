"""The fleet the external-mode tests serve and drive: three shops, each with 4 SIP licenses and a
hunt group of five, offered far more than that."""

SHOPS = """
name: three shops to drive from outside
duration: 1h
seed: 11
units:
  - name: shop
    count: 3
    feature_key: virtual:50000000
    licenses:
      - {feature: sip_trunk_channels, instances: 4}
    vcm_modules: [{type: vcm32}]
    trunks:
      - {name: sip1, type: sip, channels: 8}
    users:
      - {name: till1, extension: "201", phone: "2420"}
      - {name: till2, extension: "202", phone: "2420"}
      - {name: till3, extension: "203", phone: "2420"}
      - {name: till4, extension: "204", phone: "2420"}
      - {name: till5, extension: "205", phone: "2420"}
    groups:
      - {name: shopfloor, extension: "500", hunting: rotary, members: ["201", "202", "203", "204", "205"]}
traffic:
  - name: customers
    unit: shop
    from: sip1
    to: "500"
    erlangs: 4
    holding: {distribution: exponential, mean: 3m}
  - name: direct
    unit: shop
    from: sip1
    to: ["201", "202"]
    calls_per_hour: 20
    holding: {distribution: fixed, mean: 2m}
"""
