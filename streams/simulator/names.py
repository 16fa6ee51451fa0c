"""Names used by the synthetic district (one place for every list of names)."""

from __future__ import annotations

__all__ = [
    "COMMUNITY_NAMES",
    "EW_STREETS",
    "GAZETTEER_MISSES",
    "GIVEN_NAMES",
    "NS_STREETS",
    "RIVER_STREETS",
    "SUBDISTRICT_NAMES",
    "SURNAMES",
]

# East-west streets, south to north.
EW_STREETS = (
    "淮河路",
    "黄河路",
    "长江路",
    "湘江路",
    "珠江路",
    "漓江路",
    "海河路",
    "闽江路",
    "赣江路",
    "汉江路",
    "松花江路",
    "渤海路",
    "黎阳路",
)

# North-south streets, west to east.
NS_STREETS = (
    "太行路",
    "华山路",
    "泰山路",
    "嵩山路",
    "衡山路",
    "天山路",
    "九州路",
    "兴鹤大街",
    "华夏南路",
    "朝歌路",
    "黄山路",
    "庐山路",
    "鹤煤大道",
)

# Curved streets following the Qi river (淇河) through the district.
RIVER_STREETS = ("淇河路", "淇滨大道")

# Sub-districts (街道), row-major from the south-west; each gets a 3-digit code 001...
SUBDISTRICT_NAMES = (
    "金山街道",
    "九州路街道",
    "黎阳路街道",
    "长江路街道",
    "渤海路街道",
    "大赉店街道",
)

# Communities (社区): 4 per sub-district, drawn in order.
COMMUNITY_NAMES = (
    "鹤翔社区",
    "桂鹤社区",
    "兴鹤社区",
    "淇水社区",
    "朝阳社区",
    "东杨社区",
    "新华社区",
    "湘江社区",
    "华夏社区",
    "天山社区",
    "福源社区",
    "钜桥社区",
    "太行社区",
    "金山社区",
    "嵩山社区",
    "海河社区",
    "迎宾社区",
    "金桥社区",
    "黎阳社区",
    "九州社区",
    "闽江社区",
    "泰山社区",
    "大赉社区",
    "滨河社区",
)

# Plausible addresses that are NOT in the gazetteer (for unknown-address bad records).
GAZETTEER_MISSES = ("幸福大街88号", "人民路3号", "解放北路116号", "建设路9号", "中山路2001号")

# Inspectors' names: a surname and a given name, drawn per inspector id (roster_file.py).
SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴",
    "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗",
)  # fmt: skip
GIVEN_NAMES = (
    "建军", "海燕", "志强", "丽娟", "伟", "磊", "敏", "静", "秀英", "国庆",
    "红梅", "文博", "晓东", "雪", "鹏", "立新", "春梅", "宏伟", "思远", "佳",
    "国强", "桂兰", "明", "俊杰", "淑珍", "浩", "玉兰", "建华", "晨", "亚楠",
)  # fmt: skip
